//! Client bytes read from the socket but not yet handed to the server.

use tokio::io::ReadBuf;

/// Smallest free space offered to a socket read into the stash.
const MIN_READ: usize = 2048;
/// First allocation; most heads that need stashing fit.
const INITIAL: usize = 4096;

/// `buf[start..approved]` has been examined and may be released; `buf[approved..end]`
/// awaits examination: an incomplete head (starting at `approved`), or bytes held back.
///
/// The buffer is allocated on first use only: when a head arrives whole in one read,
/// the guard examines it in the reader's own buffer and never stashes anything. Its
/// bytes stay initialised, so reads into it need no zeroing.
#[derive(Debug, Default)]
pub(super) struct Stash {
    buf: Vec<u8>,
    start: usize,
    approved: usize,
    end: usize,
}

impl Stash {
    pub(super) fn with(initial: &[u8]) -> Self {
        let mut stash = Self::default();
        stash.push(initial);
        stash
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(super) fn has_approved(&self) -> bool {
        self.start < self.approved
    }

    pub(super) fn unexamined(&self) -> &[u8] {
        &self.buf[self.approved..self.end]
    }

    /// Marks the next `n` unexamined bytes as releasable.
    pub(super) fn approve(&mut self, n: usize) {
        self.approved = (self.approved + n).min(self.end);
    }

    /// Forgets the unexamined bytes (they belong to a refused request).
    pub(super) fn drop_unexamined(&mut self) {
        self.end = self.approved;
        self.reset_if_empty();
    }

    /// Copies as many approved bytes as fit into `out`.
    pub(super) fn release_into(&mut self, out: &mut ReadBuf<'_>) {
        let n = (self.approved - self.start).min(out.remaining());
        out.put_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.reset_if_empty();
    }

    /// Appends unexamined bytes.
    pub(super) fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.reserve(data.len());
        self.buf[self.end..self.end + data.len()].copy_from_slice(data);
        self.end += data.len();
    }

    /// Free space to read into; call [`Stash::commit`] with the count read.
    pub(super) fn spare(&mut self) -> &mut [u8] {
        self.reserve(MIN_READ);
        &mut self.buf[self.end..]
    }

    pub(super) fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    fn reserve(&mut self, n: usize) {
        if self.buf.len() - self.end >= n {
            return;
        }
        if self.start > 0 {
            // Slide the live bytes to the front before growing.
            self.buf.copy_within(self.start..self.end, 0);
            self.approved -= self.start;
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < n {
            let len = (self.end + n).max(self.buf.len() * 2).max(INITIAL);
            self.buf.resize(len, 0);
        }
    }

    fn reset_if_empty(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.approved = 0;
            self.end = 0;
        }
    }
}
