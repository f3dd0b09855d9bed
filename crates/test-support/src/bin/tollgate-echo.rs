//! A demo/benchmark backend: `tollgate-echo --listen 127.0.0.1:9001 --name orders`.
//! See the crate docs for what it answers.

use clap::Parser;

/// Echo backend for demos and benchmarks.
#[derive(Parser)]
struct Args {
    /// Address to listen on (repeat for several backends in one process).
    #[arg(long, required = true)]
    listen: Vec<std::net::SocketAddr>,
    /// Name reported in the echo (default: the address).
    #[arg(long)]
    name: Option<String>,
    /// Answer every request with this many bytes instead of the JSON echo (benchmarks).
    #[arg(long)]
    fixed_body_size: Option<usize>,
    /// With `--fixed-body-size`: JSON-like records of that size instead of `x` bytes
    /// (compressible like an API answer; still sent as `text/plain`), for compression
    /// benchmarks.
    #[arg(long)]
    fixed_body_json: bool,
    /// Worker threads (default 1).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let body = args.fixed_body_size.map(|n| {
            if args.fixed_body_json {
                tollgate_test_support::json_text(n)
            } else {
                bytes::Bytes::from(vec![b'x'; n])
            }
        });
        let mut running = Vec::new();
        for addr in &args.listen {
            let name = args.name.clone().unwrap_or_else(|| addr.to_string());
            let b = tollgate_test_support::Backend::start_on(*addr, &name, body.clone()).await?;
            println!("tollgate-echo {name} listening on {}", b.addr);
            running.push(b);
        }
        tokio::signal::ctrl_c().await?;
        anyhow::Ok(())
    })
}
