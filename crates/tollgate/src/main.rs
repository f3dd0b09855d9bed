//! `tollgate`: the one binary. Subcommands: `run`, `validate`, `translate`,
//! `hash-password`.

mod k8s_opts;
mod kube_source;
mod reload;
mod run;

/// The allocator: see the `mimalloc` feature in Cargo.toml for why.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        #[command(flatten)]
        k8s: k8s_opts::K8sArgs,
    },
    /// Print the IR the configuration becomes, as YAML (secrets redacted).
    Translate {
        /// Config files or directories.
        #[arg(short, long = "config", required = true)]
        config: Vec<PathBuf>,
        /// Print secrets in clear.
        #[arg(long)]
        show_secrets: bool,
        #[command(flatten)]
        k8s: k8s_opts::K8sArgs,
    },
    /// Read a password from stdin and print its argon2id hash, for a consumer's
    /// `basic.password_hash`.
    HashPassword,
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
        Command::Validate { config, k8s } => {
            match tollgate_translate::load_and_translate_all(&config, &k8s.options()) {
                Ok(tollgate_translate::Translation { snapshot, statuses }) => {
                    // Kubernetes mistakes do not make a configuration invalid (the resource
                    // just is not served, or answers 500), but they are worth seeing here.
                    for w in status_warnings(&statuses) {
                        eprintln!("warning: {w}");
                    }
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
            }
        }
        Command::Translate {
            config,
            show_secrets,
            k8s,
        } => translate(&config, show_secrets, &k8s.options()),
        Command::HashPassword => hash_password(),
    }
}

/// `tollgate hash-password`: the first line of stdin, hashed with argon2id (default
/// parameters, random salt), so no password needs to be written into a config file.
fn hash_password() -> ExitCode {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("tollgate: could not read a password from stdin");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!(
            "tollgate: the password is empty; pipe one in: printf %s 'secret' | tollgate hash-password"
        );
        return ExitCode::FAILURE;
    }
    let salt_bytes: [u8; 16] = rand::random();
    let hashed = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| e.to_string())
        .and_then(|salt| {
            argon2::Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        });
    match hashed {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate: hashing failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `tollgate translate`: the IR as YAML; with Kubernetes resources among the files, the
/// IR and the statuses they would get, as `{ snapshot, statuses }`.
fn translate(
    config: &[PathBuf],
    show_secrets: bool,
    opts: &tollgate_translate::Options,
) -> ExitCode {
    #[derive(serde::Serialize)]
    struct WithStatuses<'a> {
        snapshot: &'a tollgate_ir::Snapshot,
        statuses: &'a [tollgate_translate::StatusUpdate],
    }
    let loaded = tollgate_model::load_paths(config).and_then(|source| {
        let t = tollgate_translate::translate_all(&source.documents, &source.resources, opts)?;
        Ok((t, !source.resources.is_empty()))
    });
    let (t, kubernetes) = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let snapshot = if show_secrets {
        t.snapshot
    } else {
        t.snapshot.redacted()
    };
    let yaml = if kubernetes {
        serde_saphyr::to_string(&WithStatuses {
            snapshot: &snapshot,
            statuses: &t.statuses,
        })
    } else {
        serde_saphyr::to_string(&snapshot)
    };
    match yaml {
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

/// One line per condition that is not as it should be (False, or a True `Conflicted`
/// or `PartiallyInvalid`), naming the object and, for listeners and route parents, which.
fn status_warnings(statuses: &[tollgate_translate::StatusUpdate]) -> Vec<String> {
    use tollgate_translate::k8s::{Condition, ObjectStatus};
    let bad = |c: &&Condition| {
        let negative = matches!(c.type_.as_str(), "Conflicted" | "PartiallyInvalid");
        c.is_true() == negative
    };
    let line = |what: String, c: &Condition| {
        format!(
            "{what}: {} is {} ({}): {}",
            c.type_, c.status, c.reason, c.message
        )
    };
    let mut out = Vec::new();
    for s in statuses {
        let name = match &s.namespace {
            Some(ns) => format!("{} {ns}/{}", s.kind, s.name),
            None => format!("{} {}", s.kind, s.name),
        };
        match &s.status {
            ObjectStatus::GatewayClass { conditions }
            | ObjectStatus::Ingress { conditions }
            | ObjectStatus::Consumer { conditions } => {
                out.extend(conditions.iter().filter(bad).map(|c| line(name.clone(), c)));
            }
            ObjectStatus::Gateway {
                conditions,
                listeners,
            } => {
                out.extend(conditions.iter().filter(bad).map(|c| line(name.clone(), c)));
                for l in listeners {
                    let what = format!("{name} listener {}", l.name);
                    out.extend(
                        l.conditions
                            .iter()
                            .filter(bad)
                            .map(|c| line(what.clone(), c)),
                    );
                }
            }
            ObjectStatus::Policy {
                conditions,
                ancestors,
            } => {
                out.extend(conditions.iter().filter(bad).map(|c| line(name.clone(), c)));
                for a in ancestors {
                    let what = format!("{name} (target {})", a.ancestor_ref.name);
                    out.extend(
                        a.conditions
                            .iter()
                            .filter(bad)
                            .map(|c| line(what.clone(), c)),
                    );
                }
            }
            ObjectStatus::Route { parents } => {
                for p in parents {
                    let what = format!("{name} (parent {})", p.parent_ref.name);
                    out.extend(
                        p.conditions
                            .iter()
                            .filter(bad)
                            .map(|c| line(what.clone(), c)),
                    );
                }
            }
        }
    }
    out
}
