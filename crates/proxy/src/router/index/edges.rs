//! The trie's edges, `(parent node, segment) → child node`, in one open-addressing hash
//! table.
//!
//! Why not a sorted list of children per node: at 100 or 5,000 children a binary search
//! is 7 to 13 string comparisons, each a `memcmp` call, and that was most of a lookup's
//! time. Here a step is one hash of the segment and usually one comparison.
//!
//! The hash is unkeyed (FxHash's multiply-xor, as rustc uses): the keys come from the
//! configuration, and a request can only probe, never insert, so a chosen segment costs
//! at most the longest probe run the configuration built, at a load factor of at most
//! one half.

/// FxHash's 64-bit multiplier (`rustc-hash`).
const K: u64 = 0xf135_7aea_2e62_a9c5;

/// The edge table.
pub(super) struct Edges {
    /// A power of two of slots, at least twice the edges.
    slots: Box<[Slot]>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the first slot.
    shift: u32,
}

/// One slot; `child == 0` marks it empty (the root is nobody's child).
#[derive(Default)]
struct Slot {
    /// [`Segment::hash`] mixed with the parent.
    hash: u64,
    head: u64,
    parent: u32,
    child: u32,
    segment: Box<[u8]>,
}

/// One segment of a path, hashed while it was scanned for its end.
pub(super) struct Segment<'a> {
    /// The segment, without the `/` that ends it.
    pub(super) bytes: &'a [u8],
    /// The hash of the bytes and the length, before the parent is mixed in.
    pub(super) hash: u64,
    /// The segment's first eight bytes, zero-padded: with the length, equality for
    /// segments of up to eight bytes (most of them) without a `memcmp` call.
    pub(super) head: u64,
}

impl<'a> Segment<'a> {
    /// The segment at the front of `path`: up to the first `/` or the end. Eight bytes
    /// at a time: each word is searched for a `/` (SWAR) and hashed in the same pass.
    /// The hash depends only on the segment's bytes, not on what follows them.
    #[inline]
    pub(super) fn scan(path: &'a [u8]) -> Self {
        let (mut hash, mut head, mut len) = (0u64, None, 0usize);
        loop {
            let rest = path.get(len..).unwrap_or_default();
            let (word, n) = match rest.first_chunk::<8>() {
                Some(w) => (u64::from_le_bytes(*w), 8),
                None => (partial_word(rest), rest.len()),
            };
            let (word, n, end) = match first_slash(word) {
                Some(i) => (word & ((1u64 << (8 * i)) - 1), i as usize, true),
                None => (word, n, n < 8),
            };
            head.get_or_insert(word);
            hash = mix(hash, word);
            len += n;
            if end {
                break;
            }
        }
        Self {
            bytes: path.get(..len).unwrap_or_default(),
            hash: mix(hash, len as u64),
            head: head.unwrap_or(0),
        }
    }
}

/// Up to seven bytes as a little-endian word, zero-padded (zero is not a `/`).
#[inline]
fn partial_word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(7)
        .enumerate()
        .fold(0, |w, (i, &b)| w | u64::from(b) << (8 * i))
}

/// The position of the first `/` in a little-endian word. The zero-byte test can only
/// misfire above a real zero byte (a borrow), so its lowest hit is exact.
#[inline]
fn first_slash(word: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = word ^ (ONES * u64::from(b'/'));
    let hits = x.wrapping_sub(ONES) & !x & (ONES << 7);
    (hits != 0).then(|| hits.trailing_zeros() / 8)
}

impl Edges {
    /// The table of these `(parent, segment, child)` edges (each key once).
    pub(super) fn new(edges: Vec<(u32, Box<str>, u32)>) -> Self {
        let len = (edges.len() * 2).next_power_of_two().max(8);
        let mut slots: Box<[Slot]> = (0..len).map(|_| Slot::default()).collect();
        let shift = 64 - len.trailing_zeros();
        let mask = len - 1;
        for (parent, segment, child) in edges {
            // A trie segment holds no '/', so the scan takes all of it.
            let s = Segment::scan(segment.as_bytes());
            let hash = mix(s.hash, u64::from(parent));
            let mut i = (hash >> shift) as usize;
            while slots[i].child != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = Slot {
                hash,
                head: s.head,
                parent,
                child,
                segment: segment.into_boxed_bytes(),
            };
        }
        Self { slots, shift }
    }

    /// The child of `parent` along `segment`.
    #[inline]
    pub(super) fn child(&self, parent: u32, segment: &Segment<'_>) -> Option<u32> {
        let hash = mix(segment.hash, u64::from(parent));
        let mask = self.slots.len() - 1;
        let mut i = (hash >> self.shift) as usize;
        loop {
            let slot = self.slots.get(i)?;
            if slot.child == 0 {
                return None;
            }
            if slot.hash == hash
                && slot.head == segment.head
                && slot.parent == parent
                && slot.segment.len() == segment.bytes.len()
                && (segment.bytes.len() <= 8 || *slot.segment == *segment.bytes)
            {
                return Some(slot.child);
            }
            i = (i + 1) & mask;
        }
    }
}

/// One FxHash step. After the multiply the top bits depend on every input bit, and the
/// top bits pick the slot.
#[inline]
fn mix(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(26) ^ word).wrapping_mul(K)
}
