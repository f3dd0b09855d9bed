//! `rediss://` against a private TLS `redis-server` with a test CA: the handshake works
//! with the aws-lc-rs provider (no `ring` in the tree) and a private root CA.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_ratelimit::{Check, Rate, RedisStore, StoreOptions};

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed")
        .success();
    assert!(ok, "openssl {args:?}");
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let dir = std::env::temp_dir().join(common::unique_prefix("tls").replace(':', "-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = Kill(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    let ca = std::fs::read(dir.join("ca.crt")).expect("ca");
    let store = RedisStore::new(
        &format!("rediss://127.0.0.1:{port}"),
        StoreOptions {
            timeout: Duration::from_secs(2),
            prefix: common::unique_prefix("tls"),
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            tls_root_ca_pem: Some(ca),
        },
    )
    .expect("store");
    let check = [Check::Rate {
        key: "k",
        rate: Rate::new(2, Duration::from_secs(60)),
    }];
    // The server needs a moment to listen: retry until it answers.
    let start = Instant::now();
    let out = loop {
        match store.check(&check).await {
            Ok(out) => break out,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "no TLS answer: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(out.allowed);
    assert_eq!(out.decisions[0].remaining, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
