//! The guard's state machine, without I/O or clocks: what the client may send next,
//! which responses hyper still owes, and whether an error answer is due. `H1Guard`
//! feeds it bytes read from the client and bytes hyper writes, and acts on its verdicts.

use crate::chunked::{Chunked, Progress};
use crate::config::{GuardConfig, MAX_IN_FLIGHT};
use crate::head::{BodyKind, HeadInfo, HeadScan, Scan, UpgradeKind, parse_head};
use crate::violation::Violation;

mod write;

#[cfg(test)]
mod tests;

/// Where the client's byte stream is.
#[derive(Debug)]
enum Read {
    /// Waiting for, or inside, a request head.
    Head(HeadScan),
    /// Inside a `Content-Length` body with this many bytes to go.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunked),
    /// After an upgrade / CONNECT request: nothing more until its response's status.
    AwaitResponse,
    /// After `101` / CONNECT `2xx`: not HTTP any more, bytes pass untouched.
    Opaque,
    /// A head was refused: the server gets EOF once it owes no response.
    Failed,
    /// A body was refused: the server gets one `InvalidData` error, then EOF.
    BodyFailed,
    /// EOF for the server (client EOF, idle timeout, or after a body error).
    Closed,
}

/// Where hyper's output is.
#[derive(Debug)]
enum Write {
    /// Between responses, or inside a head (bytes so far in `Session::resp_head`).
    Head,
    Length(u64),
    Chunked(Chunked),
    /// A body delimited by closing the connection: no answer may follow it.
    UntilClose,
    Opaque,
    /// Output the guard could not follow; it stops answering on its own.
    Untracked,
}

/// Which answer a recorded violation is owed.
#[derive(Debug, Clone, Copy)]
enum Owed {
    /// Head violation: answer once every earlier request has its complete response.
    AfterAll,
    /// Body violation: answer only if the failing request got no response.
    IfUnanswered,
}

/// Requests released to the server whose responses are not complete, oldest first,
/// with one bit each saying whether it was a `HEAD` (whose response has no body).
#[derive(Debug, Default)]
struct InFlight {
    len: u32,
    head_bits: u64,
}

impl InFlight {
    fn push(&mut self, is_head: bool) {
        if is_head {
            self.head_bits |= 1 << self.len;
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.len -= 1;
            self.head_bits >>= 1;
        }
    }

    fn front_is_head(&self) -> bool {
        self.len > 0 && self.head_bits & 1 == 1
    }

    fn is_full(&self) -> bool {
        self.len >= MAX_IN_FLIGHT
    }
}

/// Why examining client bytes stopped before their end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The rest is an incomplete head: keep it and examine it again with more bytes.
    NeedMore,
    /// The rest may not be released yet (upgrade pending, or too many in flight).
    Hold,
    /// A violation was recorded: the rest is never released.
    Refused,
}

/// What a `poll_read` should do, before looking at bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Read and examine client bytes.
    Inspect,
    /// Pass client bytes through untouched.
    Opaque,
    /// Do not read; wait for the write side to change something.
    Hold,
    /// Return the recorded body violation as an `InvalidData` error.
    BodyError,
    /// Return EOF.
    Eof,
}

/// Which timeout applies while the reader waits for client bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    None,
    /// No request in flight and no byte of a new head.
    Idle,
    /// Part of a head has arrived.
    Head,
    /// A body is outstanding.
    Body,
}

/// The guard's protocol state for one connection.
#[derive(Debug)]
pub(crate) struct Session {
    read: Read,
    write: Write,
    in_flight: InFlight,
    /// The newest in-flight request asked to leave HTTP/1 (it is the newest because the
    /// guard holds everything after it).
    awaiting: Option<UpgradeKind>,
    /// A response head split across writes (usually empty: hyper writes heads whole).
    resp_head: Vec<u8>,
    violation: Option<Violation>,
    owed: Option<Owed>,
    /// The write side changed something a parked reader waits for.
    wake: bool,
    max_head_bytes: usize,
    max_headers: usize,
}

impl Session {
    pub(crate) fn new(config: &GuardConfig) -> Self {
        Self {
            read: Read::Head(HeadScan::default()),
            write: Write::Head,
            in_flight: InFlight::default(),
            awaiting: None,
            resp_head: Vec::new(),
            violation: None,
            owed: None,
            wake: false,
            max_head_bytes: config.max_head_bytes,
            max_headers: config.max_headers,
        }
    }

    pub(crate) fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    pub(crate) fn read_mode(&self) -> ReadMode {
        match self.read {
            Read::Head(_) if self.in_flight.is_full() => ReadMode::Hold,
            Read::Head(_) | Read::Length(_) | Read::Chunked(_) => ReadMode::Inspect,
            Read::AwaitResponse => ReadMode::Hold,
            Read::Opaque => ReadMode::Opaque,
            // hyper treats EOF while it owes a response as an aborted connection (unless
            // `half_close` is on) and drops that response, so EOF waits until every
            // released request is answered. If the output cannot be followed, EOF now.
            Read::Failed if self.in_flight.len == 0 || matches!(self.write, Write::Untracked) => {
                ReadMode::Eof
            }
            Read::Failed => ReadMode::Hold,
            Read::BodyFailed => ReadMode::BodyError,
            Read::Closed => ReadMode::Eof,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match &self.read {
            Read::Head(_) if self.in_flight.is_full() => Phase::None,
            Read::Head(scan) if scan.is_started() => Phase::Head,
            Read::Head(_) if self.in_flight.len == 0 => Phase::Idle,
            Read::Length(_) | Read::Chunked(_) => Phase::Body,
            _ => Phase::None,
        }
    }

    /// Examines client bytes that start where the last examined ones ended (for an
    /// incomplete head: at the head's first byte). Returns how many may be released.
    pub(crate) fn examine(&mut self, data: &[u8]) -> (usize, Option<Stop>) {
        let mut done = 0;
        while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
            match self.examine_one(rest) {
                Ok(n) => done += n,
                Err(stop) => return (done, Some(stop)),
            }
        }
        (done, None)
    }

    /// One step over non-empty `data`: `Ok(n)` releases `n > 0` bytes.
    fn examine_one(&mut self, data: &[u8]) -> Result<usize, Stop> {
        match &mut self.read {
            Read::Head(_) if self.in_flight.is_full() => Err(Stop::Hold),
            Read::Head(scan) => match scan.feed(data, self.max_head_bytes, self.max_headers) {
                Ok(Scan::Partial) => Err(Stop::NeedMore),
                Ok(Scan::Complete(len)) => match parse_head(&data[..len], scan.header_lines()) {
                    Ok(info) => {
                        self.start_request(info);
                        Ok(len)
                    }
                    Err(v) => Err(self.fail_head(v)),
                },
                Err(v) => Err(self.fail_head(v)),
            },
            Read::Length(left) => {
                let take = usize::try_from(*left).map_or(data.len(), |l| l.min(data.len()));
                *left -= take as u64;
                if *left == 0 {
                    self.end_message();
                }
                Ok(take)
            }
            Read::Chunked(chunked) => match chunked.advance(data) {
                (n, Ok(Progress::More)) => Ok(n),
                (n, Ok(Progress::Done)) => {
                    self.end_message();
                    Ok(n)
                }
                (n, Err(v)) => {
                    // The valid prefix goes first; the error comes on the next read.
                    self.record(v, Owed::IfUnanswered);
                    self.read = Read::BodyFailed;
                    if n > 0 { Ok(n) } else { Err(Stop::Refused) }
                }
            },
            Read::AwaitResponse => Err(Stop::Hold),
            Read::Opaque => Ok(data.len()),
            Read::Failed | Read::BodyFailed | Read::Closed => Err(Stop::Refused),
        }
    }

    fn start_request(&mut self, info: HeadInfo) {
        self.in_flight.push(info.is_head);
        self.awaiting = info.upgrade;
        match info.body {
            BodyKind::None => self.end_message(),
            BodyKind::Length(n) => self.read = Read::Length(n),
            BodyKind::Chunked => {
                self.read = Read::Chunked(Chunked::new(self.max_head_bytes, self.max_headers));
            }
        }
    }

    fn end_message(&mut self) {
        self.read = if self.awaiting.is_some() {
            Read::AwaitResponse
        } else {
            Read::Head(HeadScan::default())
        };
    }

    fn record(&mut self, violation: Violation, owed: Owed) {
        if self.violation.is_none() {
            self.violation = Some(violation);
            self.owed = Some(owed);
        }
    }

    /// Refuses the current (possibly incomplete) head.
    pub(crate) fn fail_head(&mut self, violation: Violation) -> Stop {
        self.record(violation, Owed::AfterAll);
        self.read = Read::Failed;
        Stop::Refused
    }

    /// The body stalled: the reader gets `TimedOut` now and EOF afterwards.
    pub(crate) fn fail_body_timeout(&mut self) {
        self.record(Violation::BodyTimeout, Owed::IfUnanswered);
        self.read = Read::Closed;
    }

    /// From now on the reader gets EOF.
    pub(crate) fn close_read(&mut self) {
        self.read = Read::Closed;
    }

    /// Whether a parked reader should be woken; clears the flag.
    pub(crate) fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake)
    }

    /// The violation to answer now, if one is owed and answering cannot corrupt or
    /// misattribute a response: the output is between responses and exactly the
    /// requests that should be unanswered are.
    pub(crate) fn answer_due(&self) -> Option<&Violation> {
        let unanswered = match self.owed? {
            Owed::AfterAll => 0,
            Owed::IfUnanswered => 1,
        };
        let between = matches!(self.write, Write::Head) && self.resp_head.is_empty();
        if between && self.in_flight.len == unanswered {
            self.violation.as_ref()
        } else {
            None
        }
    }
}
