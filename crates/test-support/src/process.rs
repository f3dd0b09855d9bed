//! Runs the real `tollgate` binary for end-to-end tests: writes the configuration to a
//! fresh temporary directory, starts `tollgate run` with JSON diagnostics, and learns the
//! bound addresses from its log lines (configs use port 0, so tests never collide).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running gateway process. Killed on drop.
pub struct Gateway {
    child: Option<Child>,
    /// The config directory (files can be rewritten to test reloads).
    pub dir: TempDir,
    /// Admin address.
    pub admin: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Writes `config` as `dir/tollgate.yaml` and starts `bin run -c dir`.
    pub fn start(bin: &str, config: &str) -> anyhow::Result<Self> {
        Self::start_with(bin, &[("tollgate.yaml", config)], &[])
    }

    /// Writes several files and starts with extra arguments.
    pub fn start_with(bin: &str, files: &[(&str, &str)], extra: &[&str]) -> anyhow::Result<Self> {
        let dir = TempDir::new("gw")?;
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text)?;
        }
        let mut args = vec!["-c".to_owned(), dir.path().display().to_string()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let gw = Self::spawn(bin, dir, &args, &[])?;
        gw.wait_for_log("serving", Duration::from_secs(20))?;
        Ok(gw)
    }

    /// Starts `bin run ARGS` (no config directory of its own: `dir` is an empty scratch
    /// directory) with extra environment variables, and returns once the admin listener
    /// is up, without waiting for anything to be served (the Kubernetes source serves
    /// only after its first sync).
    pub fn start_args(bin: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = TempDir::new("gw")?;
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Self::spawn(bin, dir, &args, env)
    }

    fn spawn(
        bin: &str,
        dir: TempDir,
        args: &[String],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .args(args)
            .args([
                "--admin",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--workers",
                "2",
            ])
            .env("TOLLGATE_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("spawn tollgate")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        pump(child.stderr.take(), lines.clone());
        pump(child.stdout.take(), stdout.clone());
        let mut gw = Self {
            child: Some(child),
            dir,
            admin: "127.0.0.1:0".parse()?,
            lines,
            stdout,
        };
        let line = gw.wait_for_log("admin listening", Duration::from_secs(20))?;
        gw.admin = field(&line, "address").context("admin address")?.parse()?;
        Ok(gw)
    }

    /// The bound address of a listener, from the latest `serving`/`listener bound` line.
    pub fn listener(&self, name: &str) -> anyhow::Result<SocketAddr> {
        let lines = self.lines.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for l in lines.iter().rev() {
            if (l.contains("\"serving\"") || l.contains("listener bound"))
                && field(l, "listener").as_deref() == Some(name)
            {
                return Ok(field(l, "address").context("address")?.parse()?);
            }
        }
        bail!("no address logged for listener {name}")
    }

    /// Waits for a diagnostic line containing `needle`; returns it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .iter()
                .find(|l| l.contains(needle))
            {
                return Ok(l.clone());
            }
            if Instant::now() > deadline {
                bail!("no log line with {needle:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Counts diagnostic lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .map(|l| l.iter().filter(|l| l.contains(needle)).count())
            .unwrap_or(0)
    }

    /// All diagnostics so far.
    pub fn log(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Access-log lines (stdout) so far.
    pub fn access_log(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Replaces the config file (atomically, by rename, as editors and Kubernetes do).
    pub fn write_config(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.path().join(name))?;
        Ok(())
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) -> anyhow::Result<()> {
        let pid = self.child.as_ref().context("exited")?.id();
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()?
            .success();
        if !ok {
            bail!("kill -{sig} failed");
        }
        Ok(())
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let child = self.child.as_mut().context("already reaped")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                bail!("still running after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn pump(src: Option<impl std::io::Read + Send + 'static>, into: Arc<Mutex<Vec<String>>>) {
    let Some(src) = src else { return };
    std::thread::spawn(move || {
        for line in BufReader::new(src).lines() {
            let Ok(line) = line else { return };
            if let Ok(mut v) = into.lock() {
                v.push(line);
            }
        }
    });
}

/// A JSON log line's field (`fields.NAME` in tracing's JSON format).
pub fn field(line: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let f = v
        .get("fields")
        .and_then(|f| f.get(name))
        .or_else(|| v.get(name))?;
    Some(match f {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "tollgate-{prefix}-{}-{n}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
