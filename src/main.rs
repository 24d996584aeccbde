//! The `constellation-mqtt` command line.

use clap::{CommandFactory, Parser, Subcommand};
use constellation_mqtt::adapter::Adapter;
use constellation_mqtt::config::MqttMode;
use constellation_mqtt::logging::{self, LogFormat};
use constellation_mqtt::mqtt::embedded;
use constellation_mqtt::setup::{self, Setup};
use constellation_mqtt::sim::{Simulator, World};
use constellation_mqtt::{check, console, demo, init, narrate, say, shutdown};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// MQTT devices as virtual packages of a Constellation server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log filter when RUST_LOG is unset (e.g. `info`, `constellation_mqtt=debug`).
    #[arg(long, global = true, default_value = "info,rumqttd=warn")]
    log_level: String,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the adapter (the default).
    Run {
        /// The configuration (default: `topics.toml` in the working directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration, then check each declared package's credential.
    Check {
        /// The configuration (default: `topics.toml` in the working directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the work a stopped adapter left in its journal, package by package.
    Journal {
        /// The configuration (default: `topics.toml` in the working directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a commented `topics.toml` to start from.
    Init {
        /// Where to write it.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Also write the embedded broker's configuration (`rumqttd.toml`), named by
        /// `topics.toml`.
        #[arg(long)]
        broker: bool,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Run the Constellation simulator.
    Sim {
        /// The simulated world (TOML or JSON); without it, an open world where any
        /// package or consumer with the access key `demo` is accepted.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: SocketAddr,
        /// As a real server: no open keys, so a package is refused until it is declared
        /// (through the Management API, then `configuration/reload`). Without
        /// `--config`, the Management API accepts the key `demo`.
        #[arg(long)]
        strict: bool,
    },
    /// Simulator, embedded broker, adapter and simulated devices in one process.
    Demo {
        /// The embedded broker's configuration (default: the compiled-in one).
        #[arg(long)]
        broker_config: Option<PathBuf>,
    },
    /// Print the shell completion script (e.g. `constellation-mqtt completions bash >
    /// /etc/bash_completion.d/constellation-mqtt`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; e.g. `constellation-mqtt man > constellation-mqtt.1`).
    Man,
    /// Print the JSON Schema of `topics.toml`, for editors (e.g. Taplo) to complete and
    /// check it.
    Schema,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    match runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime: one thread, unless `TOKIO_WORKER_THREADS` asks for a pool of that
/// many. The adapter's work per publish is small and mostly waits on sockets; on one
/// thread no task is handed to, stolen by or woken on another, which cost about a
/// tenth of the CPU time of a push (BENCHMARKS.md). Commits still wait for the disk on threads
/// of their own, and the embedded broker runs on its own threads.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

/// Limits glibc's malloc to one arena per core (unless `MALLOC_ARENA_MAX` says
/// otherwise), before any thread starts. Its default, eight per core, lets each
/// thread that ever allocated keep free memory of its own: with 10 000 packages that
/// was 0.6–0.7 KiB per package of resident memory for no speed (BENCHMARKS.md).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a tuning parameter; no thread allocates yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores);
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log_level, cli.log_format);
    let command = cli.command.unwrap_or(Command::Run { config: None });
    match command {
        Command::Check { config } => run_check(config).await,
        Command::Sim {
            config,
            listen,
            strict,
        } => run_sim(config, listen, strict).await,
        Command::Run { config } => run_adapter(config).await,
        Command::Journal { config } => show_journal(config),
        Command::Init { dir, broker, force } => match init::write(&dir, broker, force) {
            Ok(files) => {
                for f in files {
                    say!("wrote {}", f.display());
                }
                say!("next: constellation-mqtt check --config {0}/topics.toml, then run --config {0}/topics.toml", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "constellation-mqtt",
                &mut script,
            );
            console::write(&script);
            ExitCode::SUCCESS
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => {
                    console::write(&page);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Schema => {
            let schema = constellation_mqtt::config::json_schema();
            say!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Demo { broker_config } => {
            match demo::run(broker_config.as_deref(), shutdown::on_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Loads and checks the configuration at `path` (`topics.toml` without one), printing
/// every error; a missing file is explained, with what to do.
fn load_setup(path: Option<PathBuf>) -> Option<(PathBuf, Setup)> {
    let path = path.unwrap_or_else(|| "topics.toml".into());
    if !path.exists() {
        eprintln!(
            "error: no configuration: {} does not exist.\n\
             Write one with `constellation-mqtt init` (then edit it), or try `constellation-mqtt demo`.",
            path.display()
        );
        return None;
    }
    match setup::load(&path) {
        Ok(setup) => Some((path, setup)),
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            None
        }
    }
}

/// Prints what the journal of the configuration at `path` holds.
fn show_journal(path: Option<PathBuf>) -> ExitCode {
    use constellation_mqtt::journal;
    let Some((_, setup)) = load_setup(path) else {
        return ExitCode::FAILURE;
    };
    let dir = journal::directory(&setup.config.storage);
    match journal::inspect(&dir) {
        Ok(summary) => {
            let jobs: u64 = summary.packages.values().map(|(n, _)| n).sum();
            say!(
                "journal {}: {jobs} jobs pending for {} packages, {} retained messages",
                dir.display(),
                summary.packages.len(),
                summary.retained
            );
            for (package, (n, bytes)) in &summary.packages {
                say!("  {package}  {n} jobs  {bytes} bytes");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_adapter(path: Option<PathBuf>) -> ExitCode {
    let Some((_, setup)) = load_setup(path) else {
        return ExitCode::FAILURE;
    };
    match Adapter::launch(setup, shutdown::on_signal()).await {
        Ok(adapter) => {
            if let Some(b) = &adapter.broker {
                tracing::info!(v4 = ?b.v4, v5 = ?b.v5, "embedded MQTT broker listening");
            }
            adapter.wait().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_check(path: Option<PathBuf>) -> ExitCode {
    let Some((path, setup)) = load_setup(path) else {
        return ExitCode::FAILURE;
    };
    say!("{}: configuration valid", path.display());
    if setup.mqtt.mode == MqttMode::Embedded {
        let m = &setup.mqtt;
        match embedded::load(m.broker_config.as_deref(), m.max_payload_bytes) {
            Ok(broker) => {
                for warning in &broker.warnings {
                    eprintln!("warning: {warning}");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        match &m.broker_config {
            Some(file) => say!("{}: embedded broker configuration valid", file.display()),
            None => say!("embedded broker: compiled-in defaults (loopback 1883, 1884)"),
        }
    }
    match check::check_access(&setup.config).await {
        Ok(rows) if rows.is_empty() => {
            say!("no [[packages]] and no default credential: nothing to check against the server");
            ExitCode::SUCCESS
        }
        Ok(rows) => {
            if setup.packages.is_empty() {
                say!("no [[packages]] declared: checking the default credential");
            }
            console::write(check::render(&rows).as_bytes());
            if let Some(hint) = check::unreachable_hint(&setup.config, &rows) {
                say!("{hint}");
            }
            // With provisioning, a package the server refuses but would be given is fine.
            let mut to_create = Vec::new();
            if setup.config.provisioning.enabled {
                match check::provisioning(&setup.config).await {
                    Ok(survey) => {
                        say!("provisioning: the Management API accepts the credential");
                        for (package, state) in &survey {
                            say!("  {package}: {state}");
                        }
                        to_create = survey
                            .into_iter()
                            .filter(|(_, s)| *s == "would be created")
                            .map(|(p, _)| p)
                            .collect();
                    }
                    Err(e) => {
                        say!("{e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if rows
                .iter()
                .all(|r| r.ok() || (r.reachable && to_create.contains(&r.package)))
            {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_sim(config: Option<PathBuf>, listen: SocketAddr, strict: bool) -> ExitCode {
    let (world, description) = match &config {
        Some(path) => match World::load(path) {
            Ok(w) if strict => (
                World {
                    open_keys: Vec::new(),
                    ..w
                },
                format!("world from {}, strict: no open keys", path.display()),
            ),
            Ok(w) => (w, format!("world from {}", path.display())),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None if strict => (
            World::default()
                .with_management_key("Management", "demo")
                .with_consumer_key("demo"),
            "strict world: packages refused until declared through the Management API (AccessKey=demo)"
                .to_owned(),
        ),
        None => (
            World::open("demo"),
            "open world: any SentinelName/PackageName, and consumers, with AccessKey=demo"
                .to_owned(),
        ),
    };
    let sim = match Simulator::start(world, listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(url = %sim.url(), "Constellation simulator listening ({description})");
    narrate!("Constellation simulator on {} ({description})", sim.url());
    sim.run_until(shutdown::on_signal()).await;
    ExitCode::SUCCESS
}
