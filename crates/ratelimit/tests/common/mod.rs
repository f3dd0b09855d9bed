//! Test helpers: real Redis servers (the shared one, or a private child process) and
//! unique key prefixes.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tollgate_ratelimit::{RedisStore, StoreOptions};

/// The developers' shared Redis.
pub const SHARED_URL: &str = "redis://127.0.0.1:6379";

/// A prefix no other test (or developer) uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "tollgate:test:{test}:{}:{nanos:x}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A synchronous connection for assertions (TTL, SCRIPT FLUSH, DEBUG SLEEP, …).
pub fn admin(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(2))
        .expect("connect for admin commands")
}

fn answers(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(300)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// Redis for tests that do not disturb the server: the shared one at 6379 when it
/// answers, otherwise a private server (e.g. on a machine where none runs), kept alive by
/// the returned guard.
pub struct TestRedis {
    pub url: String,
    _own: Option<RedisServer>,
}

impl TestRedis {
    pub fn get() -> Self {
        if answers(SHARED_URL) {
            Self {
                url: SHARED_URL.to_string(),
                _own: None,
            }
        } else {
            let own = RedisServer::start();
            Self {
                url: own.url(),
                _own: Some(own),
            }
        }
    }
}

/// A private `redis-server` child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            l.local_addr().expect("addr").port()
        };
        let mut s = Self { port, child: None };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers(&self.url()) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: like a crash) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A store with test-friendly options: a generous timeout (the machine is shared and can
/// be slow; these tests are about results, not latency), short backoff.
pub fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::new(
        url,
        StoreOptions {
            timeout: Duration::from_secs(1),
            prefix: prefix.to_string(),
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            ..Default::default()
        },
    )
    .expect("store")
}
