//! Follows `Transfer-Encoding: chunked` framing without decoding it: the bytes pass on
//! unchanged, the tracker only learns where the message ends and refuses framing that
//! two parsers could read differently. Chunk data is skipped in bulk; only size lines
//! and trailers are looked at byte by byte.
//!
//! Strictness (RFC 9112 §7.1): hex size with no sign or spaces before it; whitespace
//! after the size only before a `;` extension; extensions without control bytes; CRLF
//! everywhere, never a bare LF; trailer lines are `token ":" value`.

use crate::chars::{hex_value, is_field_value, is_token};
use crate::violation::Violation;

#[cfg(test)]
mod tests;

/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_SIZE_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the first byte of a chunk-size line.
    SizeStart,
    /// In the hex digits.
    Size,
    /// Whitespace after the digits: only `;` may follow.
    SizeWs,
    /// In `;` extensions, up to CR.
    Ext,
    /// After the size line's CR.
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
    Done,
}

/// Whether the chunked message ended within the bytes given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// All bytes belong to the message, which goes on.
    More,
    /// The message ended after the bytes consumed.
    Done,
}

/// Position in a chunked message.
#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    state: State,
    /// Digits so far in `Size`; bytes left in `Data`.
    size: u64,
    /// Bytes of the current size line.
    line: usize,
    trailer_bytes: usize,
    trailer_lines: usize,
    max_trailer_bytes: usize,
    max_trailer_lines: usize,
}

impl Chunked {
    /// A tracker at the start of a chunked body, with limits for its trailers.
    pub(crate) fn new(max_trailer_bytes: usize, max_trailer_lines: usize) -> Self {
        Self {
            state: State::SizeStart,
            size: 0,
            line: 0,
            trailer_bytes: 0,
            trailer_lines: 0,
            max_trailer_bytes,
            max_trailer_lines,
        }
    }

    /// Consumes the next bytes of the message. Returns how many bytes belong to it
    /// (all of `data` unless the message ends or is malformed) and the outcome. On an
    /// error the count is the valid prefix before the offending byte.
    pub(crate) fn advance(&mut self, data: &[u8]) -> (usize, Result<Progress, Violation>) {
        let mut i = 0;
        while i < data.len() {
            if self.state == State::Data {
                let avail = data.len() - i;
                let take = usize::try_from(self.size).map_or(avail, |s| s.min(avail));
                i += take;
                // `take <= size`, so this cannot underflow.
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            if let Err(v) = self.step(data[i]) {
                return (i, Err(v));
            }
            i += 1;
            if self.state == State::Done {
                return (i, Ok(Progress::Done));
            }
        }
        (i, Ok(Progress::More))
    }

    /// One byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), Violation> {
        if matches!(
            self.state,
            State::SizeStart | State::Size | State::SizeWs | State::Ext
        ) {
            self.line += 1;
            if self.line > MAX_SIZE_LINE {
                return Err(Violation::InvalidChunkExtension);
            }
        }
        let in_field = match self.state {
            // The empty line ending the trailers is not a field.
            State::TrailerStart => b != b'\r',
            State::TrailerName | State::TrailerValue | State::TrailerLf => true,
            _ => false,
        };
        if in_field {
            self.trailer_bytes += 1;
            if self.trailer_bytes > self.max_trailer_bytes {
                return Err(Violation::TrailersTooLarge);
            }
        }
        if let (State::SizeStart | State::Size, Some(digit)) = (self.state, hex_value(b)) {
            self.size = self
                .size
                .checked_mul(16)
                .and_then(|s| s.checked_add(u64::from(digit)))
                .ok_or(Violation::ChunkSizeOverflow)?;
            self.state = State::Size;
            return Ok(());
        }
        self.state = match (self.state, b) {
            (State::SizeStart, _) => return Err(Violation::InvalidChunkSize),
            (State::Size | State::SizeWs, b' ' | b'\t') => State::SizeWs,
            (State::Size | State::SizeWs, b';') => State::Ext,
            (State::Size | State::Ext, b'\r') => State::SizeLf,
            (State::Size | State::SizeWs, _) => return Err(Violation::InvalidChunkSize),
            (State::Ext, _) if is_field_value(b) => State::Ext,
            (State::Ext, _) => return Err(Violation::InvalidChunkExtension),
            (State::SizeLf, b'\n') => {
                self.line = 0;
                if self.size == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.size = 0;
                State::SizeStart
            }
            (State::EndLf, b'\n') => State::Done,
            (State::SizeLf | State::DataCr | State::DataLf | State::EndLf, _) => {
                return Err(Violation::InvalidChunkFraming);
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart, _) if is_token(b) => {
                self.trailer_lines += 1;
                if self.trailer_lines > self.max_trailer_lines {
                    return Err(Violation::TrailersTooLarge);
                }
                State::TrailerName
            }
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerName, _) if is_token(b) => State::TrailerName,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, _) if is_field_value(b) => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (
                State::TrailerStart | State::TrailerName | State::TrailerValue | State::TrailerLf,
                _,
            ) => return Err(Violation::InvalidTrailer),
            (State::Done, _) => State::Done,
            // `advance` consumes chunk data in bulk and never steps through it.
            (State::Data, _) => State::Data,
        };
        Ok(())
    }
}
