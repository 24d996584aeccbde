//! The `constellation-mqtt` command line.

use clap::{Parser, Subcommand};
use constellation_mqtt::adapter::Adapter;
use constellation_mqtt::logging::{self, LogFormat};
use constellation_mqtt::sim::{Simulator, World};
use constellation_mqtt::{check, config, demo, shutdown};
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
        #[arg(long, default_value = "topics.toml")]
        config: PathBuf,
    },
    /// Validate the configuration, then check each declared package's credential.
    Check {
        #[arg(long, default_value = "topics.toml")]
        config: PathBuf,
    },
    /// Run the Constellation simulator.
    Sim {
        /// The simulated world (TOML or JSON); without it, an open world where any
        /// package or consumer with the access key `demo` is accepted.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: SocketAddr,
    },
    /// Simulator, embedded broker, adapter and simulated devices in one process.
    Demo {
        /// The embedded broker's configuration.
        #[arg(long, default_value = "broker/rumqttd.toml")]
        broker_config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log_level, cli.log_format);
    let command = cli.command.unwrap_or(Command::Run {
        config: "topics.toml".into(),
    });
    match command {
        Command::Check { config } => run_check(&config).await,
        Command::Sim { config, listen } => run_sim(config, listen).await,
        Command::Run { config } => run_adapter(&config).await,
        Command::Demo { broker_config } => {
            match demo::run(&broker_config, shutdown::on_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Loads the configuration, printing every error.
fn load_config(path: &std::path::Path) -> Option<config::Config> {
    config::load(path)
        .inspect_err(|errors| {
            for e in errors {
                eprintln!("error: {e}");
            }
        })
        .ok()
}

async fn run_adapter(path: &std::path::Path) -> ExitCode {
    let Some(config) = load_config(path) else {
        return ExitCode::FAILURE;
    };
    match Adapter::start(config, shutdown::on_signal()).await {
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

async fn run_check(path: &std::path::Path) -> ExitCode {
    let Some(config) = load_config(path) else {
        return ExitCode::FAILURE;
    };
    println!("{}: configuration valid", path.display());
    if config.packages.is_empty() {
        println!("no [[packages]] declared: nothing to check against the server");
        return ExitCode::SUCCESS;
    }
    match check::check_access(&config).await {
        Ok(rows) => {
            print!("{}", check::render(&rows));
            if rows.iter().all(check::CheckRow::ok) {
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

async fn run_sim(config: Option<PathBuf>, listen: SocketAddr) -> ExitCode {
    let (world, description) = match &config {
        Some(path) => match World::load(path) {
            Ok(w) => (w, format!("world from {}", path.display())),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
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
    println!("Constellation simulator on {} ({description})", sim.url());
    sim.run_until(shutdown::on_signal()).await;
    ExitCode::SUCCESS
}
