use super::*;

fn session() -> Session {
    Session::new(&GuardConfig::default())
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn pipelined_requests_are_counted_until_their_responses_complete() {
    let mut s = session();
    let mut two = GET.to_vec();
    two.extend_from_slice(GET);
    assert_eq!(s.examine(&two), (two.len(), None));
    assert_eq!(s.in_flight.len, 2);
    assert_eq!(
        s.phase(),
        Phase::None,
        "no idle timeout while responses are owed"
    );

    s.observe_write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel");
    assert_eq!(s.in_flight.len, 2, "body not finished");
    s.observe_write(b"lo");
    assert_eq!(s.in_flight.len, 1);
    assert!(s.take_wake());
    // Chunked response, written in pieces the way hyper does.
    for piece in [
        &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..],
        b"5\r\n",
        b"hello",
        b"\r\n",
        b"0\r\n\r\n",
    ] {
        assert_eq!(s.in_flight.len, 1);
        s.observe_write(piece);
    }
    assert_eq!(s.in_flight.len, 0);
    assert_eq!(s.phase(), Phase::Idle);
}

#[test]
fn head_responses_and_interim_responses() {
    let mut s = session();
    let head = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
    s.examine(head);
    s.examine(GET);
    s.observe_write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n");
    assert_eq!(s.in_flight.len, 1, "a HEAD response has no body");
    s.observe_write(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(s.in_flight.len, 1, "100 Continue is not the response");
    s.observe_write(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(s.in_flight.len, 0);
}

#[test]
fn response_head_split_across_writes() {
    let mut s = session();
    s.examine(GET);
    let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    for b in response {
        s.observe_write(std::slice::from_ref(b));
    }
    assert_eq!(s.in_flight.len, 0);
    assert!(s.resp_head.is_empty());
}

#[test]
fn upgrade_holds_until_the_response_status() {
    let mut s = session();
    let ws = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    let mut bytes = ws.to_vec();
    bytes.extend_from_slice(b"\x81\x05hello");
    assert_eq!(s.examine(&bytes), (ws.len(), Some(Stop::Hold)));
    assert_eq!(s.read_mode(), ReadMode::Hold);
    s.observe_write(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\x81");
    assert_eq!(s.read_mode(), ReadMode::Opaque);
    assert_eq!(s.examine(b"\x81\x05hello"), (7, None));
}

#[test]
fn refused_upgrade_resumes_inspection() {
    let mut s = session();
    let ws = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    s.examine(ws);
    assert_eq!(s.read_mode(), ReadMode::Hold);
    s.observe_write(b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(s.read_mode(), ReadMode::Inspect);
    assert_eq!(s.examine(GET), (GET.len(), None));
}

#[test]
fn connect_tunnels_on_2xx_only() {
    let connect = b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
    let mut ok = session();
    ok.examine(connect);
    ok.observe_write(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(ok.read_mode(), ReadMode::Opaque);

    let mut denied = session();
    denied.examine(connect);
    denied.observe_write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(denied.read_mode(), ReadMode::Inspect);
}

#[test]
fn head_violation_waits_for_owed_responses_then_answers() {
    let mut s = session();
    let mut bytes = GET.to_vec();
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(s.examine(&bytes), (GET.len(), Some(Stop::Refused)));
    assert_eq!(s.violation(), Some(&Violation::MissingHost));
    assert_eq!(
        s.read_mode(),
        ReadMode::Hold,
        "EOF would abort the owed response"
    );
    assert_eq!(s.answer_due(), None);
    s.observe_write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\no");
    assert_eq!(s.answer_due(), None, "never inside a response");
    s.observe_write(b"k");
    assert_eq!(s.read_mode(), ReadMode::Eof);
    assert_eq!(s.answer_due(), Some(&Violation::MissingHost));
}

#[test]
fn body_violation_is_answered_only_if_unanswered() {
    let head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(b"5\r\nhello\r\nzz\r\n");
    let mut s = session();
    let valid = head.len() + 10;
    assert_eq!(s.examine(&bytes), (valid, Some(Stop::Refused)));
    assert_eq!(s.read_mode(), ReadMode::BodyError);
    assert_eq!(s.answer_due(), Some(&Violation::InvalidChunkSize));
    s.observe_write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(s.answer_due(), None, "the proxy answered");
}

#[test]
fn untrackable_output_stops_answers_but_not_eof() {
    let mut s = session();
    s.examine(GET);
    s.examine(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    s.observe_write(b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n");
    assert_eq!(s.read_mode(), ReadMode::Eof);
    assert_eq!(s.answer_due(), None);

    let mut until_close = session();
    until_close.examine(GET);
    until_close.examine(b"GET / HTTP/1.1\r\n\r\n");
    until_close.observe_write(b"HTTP/1.1 200 OK\r\n\r\nstream");
    assert_eq!(until_close.read_mode(), ReadMode::Hold);
    assert_eq!(until_close.answer_due(), None, "the body ends at close");
}

#[test]
fn pipelining_is_capped() {
    let mut s = session();
    let many: Vec<u8> = GET.repeat(MAX_IN_FLIGHT as usize + 3);
    let cap = GET.len() * MAX_IN_FLIGHT as usize;
    assert_eq!(s.examine(&many), (cap, Some(Stop::Hold)));
    assert_eq!(s.read_mode(), ReadMode::Hold);
    assert_eq!(s.phase(), Phase::None);
    s.observe_write(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert!(s.take_wake());
    assert_eq!(s.examine(&many[cap..]), (GET.len(), Some(Stop::Hold)));
}
