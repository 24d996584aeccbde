//! The adapter: the MQTT side (embedded broker or external connection), the
//! Constellation client, the packages' registry and the router of publishes to them,
//! wired together and run until shutdown.

use crate::config::{Config, MqttMode};
use crate::constellation::{Client, ClientOptions, Identity};
use crate::devices::Devices;
use crate::dispatch::{Registry, Router};
use crate::export::Exports;
use crate::http;
use crate::journal::{Journal, Recovered, Reports, RetainedMessages, StoreError};
use crate::metrics::Metrics;
use crate::mqtt::connection::{connect, ConnectOptions, Inbound, Login};
use crate::mqtt::embedded::{self, BrokerConfig, BrokerError, EmbeddedBroker, Gate};
use crate::mqtt::Publisher;
use crate::native::adapter_error_topic;
use crate::package::{Context, Lifecycle, Server};
use crate::provisioning::Provisioner;
use crate::report::{Code, Problem};
use crate::setup::Setup;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

/// Why the adapter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("embedded mode needs the embedded broker's configuration")]
    NoBroker,
    #[error("mqtt.url: {0}")]
    MqttUrl(String),
    #[error("mqtt TLS: {0}")]
    Tls(String),
    #[error("Constellation client: {0}")]
    Client(String),
    #[error("http.listen: cannot listen on {addr}: {source}")]
    Http {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StoreError),
    #[error("configuration: {}", .0.iter().map(|(k, r)| format!("{k}: {r}")).collect::<Vec<_>>().join("; "))]
    Config(Vec<(String, String)>),
}

/// A running adapter.
pub struct Adapter {
    /// The embedded broker, in embedded mode.
    pub broker: Option<EmbeddedBroker>,
    /// The packages, for inspection (their states).
    pub registry: Registry,
    /// Where `/metrics`, `/healthz`, `/readyz` and `/status` are served, unless off.
    pub http: Option<SocketAddr>,
    task: JoinHandle<()>,
}

impl Adapter {
    /// Checks `config`, compiles its mapping and starts the adapter; it runs until
    /// `shutdown`.
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Self, StartError> {
        let setup = Setup::new(config).map_err(StartError::Config)?;
        Self::launch(setup, shutdown).await
    }

    /// Starts the adapter for a checked `setup`; it runs until `shutdown`.
    pub async fn launch(setup: Setup, shutdown: CancellationToken) -> Result<Self, StartError> {
        let broker = match setup.mqtt.mode {
            MqttMode::Embedded => {
                let m = &setup.mqtt;
                Some(embedded::load(
                    m.broker_config.as_deref(),
                    m.max_payload_bytes,
                )?)
            }
            MqttMode::External => None,
        };
        Self::launch_with(setup, broker, shutdown).await
    }

    /// Like [`Adapter::launch`], with the embedded broker's configuration given (in
    /// embedded mode: `broker` is ignored otherwise).
    pub async fn launch_with(
        setup: Setup,
        broker: Option<BrokerConfig>,
        shutdown: CancellationToken,
    ) -> Result<Self, StartError> {
        let Setup { config, mapping } = setup;
        // Bound first: a taken port stops the start before the broker runs.
        let http_listener = bind_http(&config).await?;
        let metrics = Arc::new(Metrics::new());
        let (journal, writer, recovered) = Journal::open(&config.storage)?;
        let damage = damage_report(&recovered, &metrics);
        if !recovered.jobs.is_empty() || !recovered.retained.is_empty() {
            tracing::info!(
                jobs = recovered.jobs.len(),
                retained = recovered.retained.len(),
                "journal: work and retained messages of the last run found"
            );
        }
        let (broker, mut options, gate) =
            mqtt_side(&config, broker, (&journal, recovered.retained), &metrics)?;
        let client = constellation_client(&config, &metrics)?;

        let mqtt_stop = CancellationToken::new();
        let devices = Devices::new(mapping);
        options.subscriptions = vec![format!("{}/#", config.prefix)];
        options
            .subscriptions
            .extend(devices.filters().iter().cloned());
        options.subscriptions.sort();
        options.subscriptions.dedup();
        let (publisher, inbound, mqtt_task) = connect(options, mqtt_stop.clone());
        let error_topic = adapter_error_topic(&config.prefix);
        if let Some(report) = damage {
            publisher.publish(&error_topic, report, false);
        }
        let journal_stop = CancellationToken::new();
        let journal_give_up = CancellationToken::new();
        let reports = Reports {
            publisher: publisher.clone(),
            error_topic,
        };
        let journal_task = tokio::spawn(writer.run(
            reports,
            metrics.clone(),
            journal_stop.clone(),
            journal_give_up.clone(),
        ));
        let readiness = Duration::from_secs(config.http.readiness_s);
        tokio::spawn(probe(
            client.clone(),
            // Any answer tells the server is up, a refusal too.
            config
                .declared_identities()
                .into_iter()
                .next()
                .unwrap_or_else(|| config.default_identity()),
            metrics.clone(),
            readiness,
            shutdown.clone(),
        ));
        let (router, registry, exports) =
            packages(&config, devices, client, &publisher, metrics, journal);
        registry.start_declared();
        // The last run's work first, in per-package order.
        registry.restore(recovered.jobs);
        let http = match http_listener {
            Some(listener) => Some(
                http::serve(listener, registry.clone(), readiness, shutdown.clone()).map_err(
                    |source| StartError::Http {
                        addr: config.http.listen.clone(),
                        source,
                    },
                )?,
            ),
            None => None,
        };
        let running = Running {
            router,
            registry: registry.clone(),
            exports,
            inbound,
            gate,
            publisher,
            drain_topic: format!("{}/_adapter/drain", config.prefix),
            flush: Duration::from_millis(config.constellation.flush_timeout_ms),
            idle_s: config.constellation.package_idle_s.max(1),
            embedded: broker.is_some(),
            journal: (journal_task, journal_stop, journal_give_up),
            mqtt: (mqtt_task, mqtt_stop),
        };
        Ok(Self {
            broker,
            registry,
            http,
            task: tokio::spawn(running.run(shutdown)),
        })
    }

    /// Waits until the adapter has shut down (queued work delivered or flush time up,
    /// `offline` published).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The adapter's HTTP listener, bound (none when `http.listen` is `""`).
async fn bind_http(config: &Config) -> Result<Option<tokio::net::TcpListener>, StartError> {
    match config.http.listen.as_str() {
        "" => Ok(None),
        addr => tokio::net::TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|source| StartError::Http {
                addr: addr.to_owned(),
                source,
            }),
    }
}

/// The embedded broker (none with an external one), how the adapter connects, and the
/// embedded broker's gate.
type MqttSide = (Option<EmbeddedBroker>, ConnectOptions, Option<Arc<Gate>>);

/// The MQTT side: the embedded broker started (its retained messages kept in the
/// journal, those of the last run given back; no publish taken that the journal could
/// not keep: its gate), or the external broker's address; and how the adapter connects
/// to it.
fn mqtt_side(
    config: &Config,
    broker: Option<BrokerConfig>,
    (journal, retained): (&Journal, RetainedMessages),
    metrics: &Arc<Metrics>,
) -> Result<MqttSide, StartError> {
    let mut broker_config = match (config.mqtt.mode, broker) {
        (MqttMode::Embedded, Some(broker_config)) => broker_config,
        (MqttMode::Embedded, None) => return Err(StartError::NoBroker),
        (MqttMode::External, _) => {
            let (host, port, tls) = external_target(config)?;
            return Ok((
                None,
                connect_options(config, host, port, tls, metrics),
                None,
            ));
        }
    };
    // The broker's retained messages live in the journal across restarts.
    broker_config.settings.router.retained_store =
        rumqttd::RetainedStoreHandle(Some(journal.retained_store(retained)));
    // It takes no publish it could not hand on to the journal.
    let gate = Gate::new(metrics.clone());
    broker_config.settings.router.publish_gate = rumqttd::PublishGateHandle(Some(gate.clone()));
    for warning in &broker_config.warnings {
        tracing::warn!("embedded broker: {warning}");
    }
    let broker = embedded::start(broker_config.settings)?;
    let addr = broker.adapter_addr;
    let mut options = connect_options(config, addr.ip().to_string(), addr.port(), None, metrics);
    // The embedded broker keeps no session past the process: a client id of this process
    // alone costs nothing, and no device can take the adapter's connection over by
    // connecting with its id.
    options.client_id = format!("{}-{}", options.client_id, uuid::Uuid::new_v4().simple());
    gate.set_adapter(&options.client_id);
    // On a listener that authenticates, the login made for this process, unless the
    // configuration names one.
    if options.credentials.is_none() {
        options.credentials = broker.adapter_login.clone();
    }
    Ok((Some(broker), options, Some(gate)))
}

/// The Constellation client of `[constellation]`, observed by `metrics`.
fn constellation_client(config: &Config, metrics: &Arc<Metrics>) -> Result<Client, StartError> {
    let c = &config.constellation;
    let url = Url::parse(&c.url).map_err(|e| StartError::Client(e.to_string()))?;
    Ok(Client::new(ClientOptions {
        url,
        request_timeout: Duration::from_millis(c.request_timeout_ms),
        long_poll_timeout: Duration::from_millis(c.long_poll_timeout_ms),
        pipeline: c.pipeline,
    })
    .map_err(|e| StartError::Client(e.to_string()))?
    .with_observer(metrics.clone()))
}

/// The package side: what every package shares, the packages' registry and the router
/// of publishes to them, and the exports (`[[export]]`, `_send`) with their own tasks.
fn packages(
    config: &Arc<Config>,
    devices: Devices,
    client: Client,
    publisher: &Publisher,
    metrics: Arc<Metrics>,
    journal: Journal,
) -> (Router, Registry, Option<Arc<Exports>>) {
    let exports = Exports::start(config, &client, publisher);
    let cx = Arc::new(Context {
        provisioner: Provisioner::start(config, &client, publisher.clone()),
        server: Server::new(client, config),
        publisher: publisher.clone(),
        devices: Arc::new(devices),
        lifecycle: Lifecycle::default(),
        config: config.clone(),
        metrics,
        journal,
        purged: tokio::sync::broadcast::channel(256).0,
    });
    let registry = Registry::new(cx.clone());
    let router = Router::new(cx, registry.clone(), exports.clone());
    (router, registry, exports)
}

/// A started adapter's main task: what it routes, and what it stops at shutdown.
struct Running {
    router: Router,
    registry: Registry,
    exports: Option<Arc<Exports>>,
    inbound: Inbound,
    /// The embedded broker's gate (none with an external broker).
    gate: Option<Arc<Gate>>,
    publisher: Publisher,
    drain_topic: String,
    flush: Duration,
    idle_s: u64,
    embedded: bool,
    journal: (JoinHandle<()>, CancellationToken, CancellationToken),
    mqtt: (JoinHandle<()>, CancellationToken),
}

impl Running {
    /// Routes publishes until `shutdown`, then stops.
    async fn run(mut self, shutdown: CancellationToken) {
        // Idle packages are looked for a few times per `package_idle_s`, on this task:
        // none is released while a publish for it is being handed over.
        let every = Duration::from_secs((self.idle_s / 4).clamp(1, 60));
        let mut sweep = tokio::time::interval(every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Made once and polled last: a publish costs no look at the shutdown token
        // (a lock) while publishes are waiting; the runtime's budget still ends a flood's
        // run of ready publishes often enough for shutdown to be seen.
        let stopped = shutdown.cancelled();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                biased;
                publish = self.inbound.recv() => match publish {
                    Some(p) => self.router.handle(p),
                    None => break,
                },
                _ = sweep.tick() => self.registry.release_idle(),
                () = &mut stopped => break,
            }
        }
        self.stop().await;
    }

    /// Delivers queued work for at most the flush time, then stops the journal and the
    /// MQTT side.
    async fn stop(mut self) {
        tracing::info!("shutting down: delivering queued work");
        let deadline = tokio::time::Instant::now() + self.flush;
        if let Some(gate) = &self.gate {
            // The embedded broker takes no more, and what it took is journaled.
            gate.close();
            self.publisher.publish(&self.drain_topic, "", false);
            let drain = async {
                loop {
                    tokio::select! {
                        _ = gate.drained() => break,
                        publish = self.inbound.recv() => match publish {
                            Some(p) => self.router.handle(p),
                            None => break,
                        },
                    }
                }
            };
            if tokio::time::timeout_at(deadline, drain).await.is_err() {
                tracing::warn!("shutdown: flush time up before every publish the embedded broker took reached the journal");
            }
        }
        if let Some(x) = &self.exports {
            x.stop();
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.registry.shutdown(left).await;
        // What is left is committed, and what was kept acknowledged; a journal that
        // cannot be written is given up at the deadline.
        let (journal_task, journal_stop, journal_give_up) = self.journal;
        journal_stop.cancel();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            journal_give_up.cancel();
        });
        let _ = journal_task.await;
        let (mqtt_task, mqtt_stop) = self.mqtt;
        mqtt_stop.cancel();
        let _ = mqtt_task.await;
        if self.embedded {
            // The broker dies with the process: give its router a moment to forward the
            // last publishes (`offline`, errors) to the devices.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Logs and counts a damaged journal found at start; the report for the adapter's
/// `error` topic.
fn damage_report(recovered: &Recovered, metrics: &Metrics) -> Option<String> {
    let damage = recovered.damage.as_ref()?;
    metrics.journal_damaged();
    let lost = if damage.unreadable_parts {
        "parts of it could not be read: their records are lost"
    } else {
        "every record could be read"
    };
    let text = format!(
        "the journal was damaged ({}); moved to {}; {} jobs and {} retained messages kept in a new journal, {lost}",
        damage.reason,
        damage.moved_to.display(),
        damage.jobs,
        damage.retained,
    );
    tracing::error!("{text}");
    Some(Problem::new(Code::Journal, text).payload("journal", serde_json::Value::Null))
}

/// Asks `CheckAccess` whenever Constellation has not answered anything for half of
/// `readiness`, so that `/readyz` and `constellation_reachable` say how it is even when
/// nothing else is asked of it.
async fn probe(
    client: Client,
    identity: Identity,
    metrics: Arc<Metrics>,
    readiness: Duration,
    shutdown: CancellationToken,
) {
    let quiet = readiness / 2;
    loop {
        let stale = metrics
            .since_constellation_answered()
            .is_none_or(|ago| ago >= quiet);
        if stale {
            // The outcome is recorded by the client's observer.
            let _ = client.check_access(&identity).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(quiet / 2) => {}
        }
    }
}

fn connect_options(
    config: &Config,
    host: String,
    port: u16,
    tls: Option<rumqttc::TlsConfiguration>,
    metrics: &Arc<Metrics>,
) -> ConnectOptions {
    let m = &config.mqtt;
    ConnectOptions {
        metrics: metrics.clone(),
        host,
        port,
        tls,
        client_id: m.client_id.clone(),
        credentials: m.username.clone().map(|username| Login {
            username,
            password: m.password.clone().unwrap_or_default(),
        }),
        keep_alive: Duration::from_secs(m.keep_alive_s.max(5)),
        // The payload plus room for the topic and properties.
        max_packet_size: u32::try_from(m.max_payload_bytes + 64 * 1024).unwrap_or(u32::MAX),
        subscriptions: Vec::new(),
        qos: crate::mqtt::qos_of(m.qos),
        status_topic: format!("{}/_adapter/status", config.prefix),
    }
}

/// Host, port and TLS of `mqtt.url` (`mqtt://` 1883, `mqtts://` 8883 by default).
fn external_target(
    config: &Config,
) -> Result<(String, u16, Option<rumqttc::TlsConfiguration>), StartError> {
    let m = &config.mqtt;
    let url = Url::parse(&m.url).map_err(|e| StartError::MqttUrl(e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| StartError::MqttUrl("no host".into()))?
        .trim_matches(['[', ']'])
        .to_owned();
    let secure = url.scheme() == "mqtts";
    let port = url.port().unwrap_or(if secure { 8883 } else { 1883 });
    if !secure {
        return Ok((host, port, None));
    }
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| StartError::Tls(format!("{}: {e}", p.display())))
    };
    let client_auth = match (&m.client_cert_file, &m.client_key_file) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    let tls = match &m.ca_file {
        Some(ca) => rumqttc::TlsConfiguration::Simple {
            ca: read(ca)?,
            alpn: None,
            client_auth,
        },
        None if client_auth.is_some() => {
            return Err(StartError::Tls(
                "mqtt.client_cert_file needs mqtt.ca_file as well".into(),
            ))
        }
        None => rumqttc::TlsConfiguration::default(),
    };
    Ok((host, port, Some(tls)))
}
