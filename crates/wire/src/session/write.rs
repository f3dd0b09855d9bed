//! The write side of [`Session`]: following hyper's responses to know which requests
//! are still owed one, and when the connection stops being HTTP/1.

use super::{Read, Session, Write};
use crate::chunked::{Chunked, Progress};
use crate::head::{HeadScan, UpgradeKind};
use crate::response::{
    ResponseBody, ResponseHead, find_head_end, parse_response_head, scan_response_head,
};

/// A response head longer than this is not followed (hyper never writes one; the
/// guard then just stops answering on its own).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Limits for the trailers of chunked responses, which come from hyper.
const RESPONSE_TRAILER_BYTES: usize = 1 << 20;
const RESPONSE_TRAILER_LINES: usize = 10_000;

impl Session {
    /// Follows bytes hyper has written (only those the socket accepted).
    pub(crate) fn observe_write(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.write {
                Write::Head if self.resp_head.is_empty() => {
                    // The usual case: a whole head at the start of this write, found
                    // and parsed in one pass.
                    let Some((end, head)) = scan_response_head(data) else {
                        if data.len() > MAX_RESPONSE_HEAD {
                            self.untrack();
                        } else {
                            self.resp_head.extend_from_slice(data);
                        }
                        return;
                    };
                    data = &data[end..];
                    match head {
                        Some(head) => self.on_response_head(head),
                        None => self.untrack(),
                    }
                }
                Write::Head => {
                    // The rest of a head split across writes.
                    let Some(end) = find_head_end(&self.resp_head, data) else {
                        if self.resp_head.len() + data.len() > MAX_RESPONSE_HEAD {
                            self.untrack();
                        } else {
                            self.resp_head.extend_from_slice(data);
                        }
                        return;
                    };
                    self.resp_head.extend_from_slice(&data[..end]);
                    let head = parse_response_head(&self.resp_head);
                    self.resp_head.clear();
                    data = &data[end..];
                    match head {
                        Some(head) => self.on_response_head(head),
                        None => self.untrack(),
                    }
                }
                Write::Length(left) => {
                    let take = usize::try_from(*left).map_or(data.len(), |l| l.min(data.len()));
                    *left -= take as u64;
                    data = &data[take..];
                    if *left == 0 {
                        self.response_done();
                    }
                }
                Write::Chunked(chunked) => {
                    let (n, outcome) = chunked.advance(data);
                    data = &data[n..];
                    match outcome {
                        Ok(Progress::More) => {}
                        Ok(Progress::Done) => self.response_done(),
                        Err(_) => self.untrack(),
                    }
                }
                Write::UntilClose | Write::Opaque | Write::Untracked => return,
            }
        }
    }

    fn on_response_head(&mut self, head: ResponseHead) {
        let status = head.status;
        if status == 101 {
            // hyper is done with HTTP/1 on this connection after a 101 either way.
            return self.become_opaque();
        }
        if status < 200 {
            // Interim (100 Continue, 103): the final head follows for the same request.
            return;
        }
        if self.in_flight.len <= 1
            && let Some(kind) = self.awaiting.take()
        {
            if kind == UpgradeKind::Connect && (200..300).contains(&status) {
                return self.become_opaque();
            }
            // Refused upgrade: the client's next bytes are HTTP again.
            if matches!(self.read, Read::AwaitResponse) {
                self.read = Read::Head(HeadScan::default());
            }
            self.wake = true;
        }
        let bodiless = self.in_flight.front_is_head() || status == 204 || status == 304;
        match head.body {
            _ if bodiless => self.response_done(),
            ResponseBody::Length(0) => self.response_done(),
            ResponseBody::Length(n) => self.write = Write::Length(n),
            ResponseBody::Chunked => {
                self.write =
                    Write::Chunked(Chunked::new(RESPONSE_TRAILER_BYTES, RESPONSE_TRAILER_LINES));
            }
            ResponseBody::UntilClose => self.write = Write::UntilClose,
        }
    }

    fn response_done(&mut self) {
        self.in_flight.pop();
        self.write = Write::Head;
        self.wake = true;
    }

    fn become_opaque(&mut self) {
        self.write = Write::Opaque;
        self.awaiting = None;
        if !matches!(self.read, Read::Failed | Read::BodyFailed | Read::Closed) {
            self.read = Read::Opaque;
        }
        self.wake = true;
    }

    fn untrack(&mut self) {
        self.write = Write::Untracked;
        self.resp_head = Vec::new();
        self.wake = true;
    }
}
