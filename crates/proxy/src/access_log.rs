//! The access log: one JSON line per request on stdout.
//!
//! Request tasks append their line to a shared buffer and never wait for the terminal or
//! a slow pipe; a dedicated thread writes the buffer out every [`FLUSH_EVERY`] (or as
//! soon as it holds [`FLUSH_AT`] bytes), like NGINX's `access_log ... buffer= flush=`.
//! Waking the writer for every line cost a futex wake and a context switch per request
//! (+32 CPU-µs per request in `bench/`); batching by time makes that cost per batch.
//! If stdout stops draining, the buffer is capped at [`MAX_BUFFERED`] and further lines
//! are dropped and counted, so a stuck log cannot take the gateway's memory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The longest a line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A buffer this full is written at once.
const FLUSH_AT: usize = 256 * 1024;
/// Lines beyond this many buffered bytes are dropped (stdout is not draining).
const MAX_BUFFERED: usize = 16 * 1024 * 1024;

struct Inner {
    buf: Mutex<Vec<u8>>,
    full: Condvar,
    dropped: AtomicU64,
}

/// A handle for queueing lines to the log thread.
#[derive(Clone)]
pub(crate) struct AccessLog {
    inner: Arc<Inner>,
}

impl AccessLog {
    /// Starts the writer thread.
    pub(crate) fn start() -> Self {
        let inner = Arc::new(Inner {
            buf: Mutex::new(Vec::with_capacity(FLUSH_AT)),
            full: Condvar::new(),
            dropped: AtomicU64::new(0),
        });
        let writer = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("tollgate-access-log".into())
            .spawn(move || writer_loop(&writer));
        if let Err(e) = spawned {
            tracing::error!("cannot start the access-log thread: {e}");
        }
        Self { inner }
    }

    /// Queues one line (the newline is added here).
    pub(crate) fn write(&self, line: &str) {
        let Ok(mut buf) = self.inner.buf.lock() else {
            return;
        };
        if buf.len() + line.len() >= MAX_BUFFERED {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if buf.len() >= FLUSH_AT {
            self.inner.full.notify_one();
        }
    }

    /// Writes out whatever is buffered now (at shutdown, so no line is lost).
    pub(crate) fn flush(&self) {
        let batch = match self.inner.buf.lock() {
            Ok(mut buf) => std::mem::take(&mut *buf),
            Err(_) => return,
        };
        write_out(&batch);
    }
}

fn writer_loop(inner: &Inner) {
    // Two buffers swap roles, so steady state allocates nothing.
    let mut spare = Vec::with_capacity(FLUSH_AT);
    loop {
        {
            let Ok(buf) = inner.buf.lock() else { return };
            let Ok((mut buf, _)) = inner
                .full
                .wait_timeout_while(buf, FLUSH_EVERY, |b| b.len() < FLUSH_AT)
            else {
                return;
            };
            std::mem::swap(&mut *buf, &mut spare);
        }
        if !spare.is_empty() {
            write_out(&spare);
            spare.clear();
        }
        let dropped = inner.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "stdout is not draining: access-log lines dropped");
        }
    }
}

/// One write of a batch. stdout is locked only for the write, so other output (a panic
/// message, a test's println) is never shut out.
fn write_out(batch: &[u8]) {
    if batch.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(batch);
    let _ = out.flush();
}

/// Milliseconds since the Unix epoch, for the `ts` field.
pub(crate) fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// What one access-log line says.
pub(crate) struct Entry<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) client: SocketAddr,
    pub(crate) listener: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) route: Option<&'a str>,
    pub(crate) upstream: Option<&'a str>,
    /// The authenticated consumer (never a credential).
    pub(crate) consumer: Option<&'a str>,
    /// The rate limit or quota that refused the request.
    pub(crate) limited_by: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
    pub(crate) bytes: u64,
    pub(crate) complete: bool,
}

impl Entry<'_> {
    /// The JSON line, written field by field: `serde_json::json!` built a map of owned
    /// values per request only to print it.
    pub(crate) fn to_json(&self) -> String {
        let mut s = String::with_capacity(256);
        let _ = write!(s, "{{\"ts_ms\":{}", unix_ms());
        str_field(&mut s, "request_id", Some(self.request_id));
        let _ = write!(s, ",\"client\":\"{}\"", self.client);
        str_field(&mut s, "listener", Some(self.listener));
        str_field(&mut s, "method", Some(self.method));
        str_field(&mut s, "path", Some(self.path));
        str_field(&mut s, "route", self.route);
        str_field(&mut s, "upstream", self.upstream);
        if let Some(c) = self.consumer {
            str_field(&mut s, "consumer", Some(c));
        }
        if let Some(l) = self.limited_by {
            str_field(&mut s, "limited_by", Some(l));
        }
        let _ = write!(
            s,
            ",\"status\":{},\"duration_ms\":{:.3},\"bytes\":{},\"complete\":{}}}",
            self.status,
            self.duration.as_secs_f64() * 1000.0,
            self.bytes,
            self.complete
        );
        s
    }
}

/// `,"key":"value"` (or `null`), the value escaped as JSON requires.
fn str_field(s: &mut String, key: &str, value: Option<&str>) {
    let _ = write!(s, ",\"{key}\":");
    let Some(v) = value else {
        s.push_str("null");
        return;
    };
    s.push('"');
    let clean = v.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if clean {
        s.push_str(v);
    } else {
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(s, "\\u{:04x}", u32::from(c));
                }
                c => s.push(c),
            }
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(path: &'a str, route: Option<&'a str>) -> Entry<'a> {
        Entry {
            request_id: "id-1",
            client: SocketAddr::from(([127, 0, 0, 1], 5555)),
            listener: "web",
            method: "GET",
            path,
            route,
            upstream: None,
            consumer: None,
            limited_by: None,
            status: 200,
            duration: Duration::from_micros(1500),
            bytes: 42,
            complete: true,
        }
    }

    #[test]
    fn lines_are_json_with_every_field() {
        let line = entry("/a", Some("route/r")).to_json();
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["request_id"], "id-1");
        assert_eq!(v["client"], "127.0.0.1:5555");
        assert_eq!(v["listener"], "web");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/a");
        assert_eq!(v["route"], "route/r");
        assert!(v["upstream"].is_null());
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["bytes"], 42);
        assert_eq!(v["complete"], true);
        assert!(v["ts_ms"].as_u64().is_some_and(|t| t > 1_600_000_000_000));
    }

    #[test]
    fn strings_are_escaped() {
        let nasty = "/q\"uote\\back\nline\u{1}tab\té";
        let line = entry(nasty, None).to_json();
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["path"], nasty);
        assert!(!line.contains('\n'), "one line: {line}");
    }
}
