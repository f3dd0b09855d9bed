use super::*;

/// Feeds `body` in pieces of `step`; returns the bytes consumed and the outcome.
fn run(body: &[u8], step: usize) -> (usize, Result<Progress, Violation>) {
    let mut chunked = Chunked::new(1024, 10);
    let mut consumed = 0;
    while consumed < body.len() {
        let end = (consumed + step).min(body.len());
        let (n, outcome) = chunked.advance(&body[consumed..end]);
        consumed += n;
        match outcome {
            Ok(Progress::More) => assert_eq!(consumed, end, "More must consume everything"),
            other => return (consumed, other),
        }
    }
    (consumed, Ok(Progress::More))
}

fn verdict(body: &[u8]) -> (usize, Result<Progress, Violation>) {
    let whole = run(body, body.len());
    for step in [1, 2, 3, 7] {
        assert_eq!(
            run(body, step),
            whole,
            "step {step}: {:?}",
            String::from_utf8_lossy(body)
        );
    }
    whole
}

#[test]
fn valid_bodies_end_exactly() {
    let cases: &[&[u8]] = &[
        b"0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"A\r\n0123456789\r\n0\r\n\r\n",
        b"a\r\n0123456789\r\n00\r\n\r\n",
        b"5;name=value\r\nhello\r\n0;last\r\n\r\n",
        b"5 ;name=\"quoted value\"\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n",
        b"3\r\n\r\n\r\r\n0\r\n\r\n",
    ];
    for body in cases {
        let mut with_next = body.to_vec();
        with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            verdict(&with_next),
            (body.len(), Ok(Progress::Done)),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn incomplete_bodies_want_more() {
    assert_eq!(verdict(b"5\r\nhel"), (6, Ok(Progress::More)));
    assert_eq!(verdict(b"5\r\nhello\r\n0\r\n"), (13, Ok(Progress::More)));
}

#[test]
fn malformed_framing_is_refused_after_the_valid_prefix() {
    let cases: &[(&[u8], usize, Violation)] = &[
        (b"\r\n", 0, Violation::InvalidChunkSize),
        (b"x\r\n", 0, Violation::InvalidChunkSize),
        (b" 5\r\nhello\r\n", 0, Violation::InvalidChunkSize),
        (b"-5\r\n", 0, Violation::InvalidChunkSize),
        (b"+5\r\n", 0, Violation::InvalidChunkSize),
        (b"0x5\r\n", 1, Violation::InvalidChunkSize),
        (b"5 \r\nhello\r\n", 2, Violation::InvalidChunkSize),
        (b"5 5\r\n", 2, Violation::InvalidChunkSize),
        (b"5\nhello\r\n", 1, Violation::InvalidChunkSize),
        (b"5\r\rhello", 2, Violation::InvalidChunkFraming),
        (b"5\r\nhelloX\r\n", 8, Violation::InvalidChunkFraming),
        (b"5\r\nhello\n0\r\n", 8, Violation::InvalidChunkFraming),
        (b"5\r\nhello\r0\r\n", 9, Violation::InvalidChunkFraming),
        (b"5;a\nb\r\n", 3, Violation::InvalidChunkExtension),
        (b"5;a\0\r\n", 3, Violation::InvalidChunkExtension),
        (b"10000000000000000\r\n", 16, Violation::ChunkSizeOverflow),
        (b"0\r\nX : y\r\n\r\n", 4, Violation::InvalidTrailer),
        (b"0\r\n y\r\n\r\n", 3, Violation::InvalidTrailer),
        (b"0\r\nX: a\nb\r\n\r\n", 7, Violation::InvalidTrailer),
        (b"0\r\nX: y\r\n\n", 9, Violation::InvalidTrailer),
        (b"0\r\n\rX", 4, Violation::InvalidChunkFraming),
    ];
    for (body, valid, want) in cases {
        assert_eq!(
            verdict(body),
            (*valid, Err(want.clone())),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn largest_chunk_size_fits() {
    let mut chunked = Chunked::new(0, 0);
    let (n, outcome) = chunked.advance(b"ffffffffffffffff\r\nabc");
    assert_eq!((n, outcome), (21, Ok(Progress::More)));
    let mut leading_zeros = Chunked::new(0, 0);
    let (_, outcome) = leading_zeros.advance(b"0000000000000000000005\r\nhello\r\n0\r\n\r\n");
    assert_eq!(outcome, Ok(Progress::Done));
}

#[test]
fn size_lines_and_trailers_are_bounded() {
    let mut long_ext = b"5;".to_vec();
    long_ext.resize(MAX_SIZE_LINE + 10, b'a');
    let (_, outcome) = Chunked::new(1024, 10).advance(&long_ext);
    assert_eq!(outcome, Err(Violation::InvalidChunkExtension));

    let (_, outcome) = Chunked::new(8, 10).advance(b"0\r\nX-Long: 123456\r\n\r\n");
    assert_eq!(outcome, Err(Violation::TrailersTooLarge));

    let (_, outcome) = Chunked::new(1024, 1).advance(b"0\r\nA: 1\r\nB: 2\r\n\r\n");
    assert_eq!(outcome, Err(Violation::TrailersTooLarge));
}
