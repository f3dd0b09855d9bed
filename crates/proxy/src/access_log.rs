//! The access log: one JSON line per request on stdout, written by a dedicated thread so
//! request tasks never block on the terminal or a slow pipe. Lines are batched: the thread
//! flushes when the queue runs empty.

use std::io::Write;
use std::sync::mpsc;

/// A handle for sending lines to the log thread.
#[derive(Clone)]
pub(crate) struct AccessLog {
    tx: mpsc::Sender<String>,
}

impl AccessLog {
    /// Starts the writer thread.
    pub(crate) fn start() -> Self {
        let (tx, rx) = mpsc::channel::<String>();
        let spawned = std::thread::Builder::new()
            .name("tollgate-access-log".into())
            .spawn(move || {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    while let Ok(line) = rx.try_recv() {
                        let _ = out.write_all(line.as_bytes());
                    }
                    let _ = out.flush();
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the access-log thread: {e}");
        }
        Self { tx }
    }

    /// Queues one line (the newline is added here).
    pub(crate) fn write(&self, mut line: String) {
        line.push('\n');
        let _ = self.tx.send(line);
    }
}

/// Milliseconds since the Unix epoch, for the `ts` field.
pub(crate) fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
