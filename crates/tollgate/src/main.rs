//! `tollgate`: the one binary. Subcommands: `run`, `validate`, `translate`.

mod reload;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tollgate, an API gateway.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway. Config files are watched and hot-reloaded (also on SIGHUP).
    Run(run::RunArgs),
    /// Check configuration: exit 0, or print `file:line:col: problem` lines and exit 1.
    Validate {
        /// Config files or directories (*.yaml, *.yml, *.json).
        #[arg(short, long = "config", required = true)]
        config: Vec<PathBuf>,
    },
    /// Print the IR the configuration becomes, as YAML (secrets redacted).
    Translate {
        /// Config files or directories.
        #[arg(short, long = "config", required = true)]
        config: Vec<PathBuf>,
        /// Print secrets in clear.
        #[arg(long)]
        show_secrets: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => match run::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tollgate: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Validate { config } => match tollgate_translate::load_and_translate(&config) {
            Ok(snapshot) => {
                if let Err(e) = tollgate_proxy::check(&snapshot) {
                    eprintln!("{}", e.0);
                    return ExitCode::FAILURE;
                }
                let routes: usize = snapshot
                    .listeners
                    .values()
                    .flat_map(|l| &l.virtual_hosts)
                    .map(|v| v.routes.len())
                    .sum();
                println!(
                    "ok: {} listeners, {} services, {} routes",
                    snapshot.listeners.len(),
                    snapshot.services.len(),
                    routes
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Translate {
            config,
            show_secrets,
        } => match tollgate_translate::load_and_translate(&config) {
            Ok(snapshot) => {
                let snapshot = if show_secrets {
                    snapshot
                } else {
                    snapshot.redacted()
                };
                match serde_saphyr::to_string(&snapshot) {
                    Ok(yaml) => {
                        print!("{yaml}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("tollgate: cannot print the IR: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}
