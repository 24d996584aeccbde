//! The adapter: the MQTT side (embedded broker or external connection), the
//! Constellation client and the dispatcher, wired together and run until shutdown.

use crate::config::{Config, MqttMode};
use crate::constellation::{Client, ClientOptions, Identity};
use crate::devices::Devices;
use crate::dispatch::Dispatcher;
use crate::http;
use crate::journal::{Journal, Recovered, Reports, StoreError};
use crate::metrics::Metrics;
use crate::mqtt::connection::{connect, ConnectOptions, Login};
use crate::mqtt::embedded::{self, BrokerConfig, BrokerError, EmbeddedBroker, Gate};
use crate::native::adapter_error_topic;
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
    /// The dispatcher, for inspection (package states).
    pub dispatcher: Dispatcher,
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
        let http_listener = match config.http.listen.as_str() {
            "" => None,
            addr => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Http {
                        addr: addr.to_owned(),
                        source,
                    })?,
            ),
        };
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
        let mut gate = None;
        let (broker, mut options) = match (config.mqtt.mode, broker) {
            (MqttMode::Embedded, Some(mut broker_config)) => {
                // The broker's retained messages live in the journal across restarts.
                broker_config.settings.router.retained_store =
                    rumqttd::RetainedStoreHandle(Some(journal.retained_store(recovered.retained)));
                // It takes no publish it could not hand on to the journal.
                let publish_gate = Gate::new(metrics.clone());
                broker_config.settings.router.publish_gate =
                    rumqttd::PublishGateHandle(Some(publish_gate.clone()));
                for warning in &broker_config.warnings {
                    tracing::warn!("embedded broker: {warning}");
                }
                let broker = embedded::start(broker_config.settings)?;
                let mut options = connect_options(
                    &config,
                    broker.adapter_addr.ip().to_string(),
                    broker.adapter_addr.port(),
                    None,
                    &metrics,
                );
                // The embedded broker keeps no session past the process: a client id of
                // this process alone costs nothing, and no device can take the
                // adapter's connection over by connecting with its id.
                options.client_id =
                    format!("{}-{}", options.client_id, uuid::Uuid::new_v4().simple());
                publish_gate.set_adapter(&options.client_id);
                gate = Some(publish_gate);
                // On a listener that authenticates, the login made for this process,
                // unless the configuration names one.
                if options.credentials.is_none() {
                    options.credentials = broker.adapter_login.clone();
                }
                (Some(broker), options)
            }
            (MqttMode::Embedded, None) => return Err(StartError::NoBroker),
            (MqttMode::External, _) => {
                let (host, port, tls) = external_target(&config)?;
                (None, connect_options(&config, host, port, tls, &metrics))
            }
        };
        let c = &config.constellation;
        let url = Url::parse(&c.url).map_err(|e| StartError::Client(e.to_string()))?;
        let client = Client::new(ClientOptions {
            url,
            request_timeout: Duration::from_millis(c.request_timeout_ms),
            long_poll_timeout: Duration::from_millis(c.long_poll_timeout_ms),
        })
        .map_err(|e| StartError::Client(e.to_string()))?
        .with_observer(metrics.clone());

        let mqtt_stop = CancellationToken::new();
        let devices = Devices::new(mapping);
        options.subscriptions = vec![format!("{}/#", config.prefix)];
        options
            .subscriptions
            .extend(devices.filters().iter().cloned());
        options.subscriptions.sort();
        options.subscriptions.dedup();
        let (publisher, mut inbound, mqtt_task) = connect(options, mqtt_stop.clone());
        let error_topic = adapter_error_topic(&config.prefix);
        if let Some(report) = damage {
            publisher.publish(&error_topic, report, false);
        }
        let (journal_stop, journal_give_up) = (CancellationToken::new(), CancellationToken::new());
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
        let drain_topic = format!("{}/_adapter/drain", config.prefix);
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
        let dispatcher = Dispatcher::new(
            config.clone(),
            devices,
            client,
            publisher.clone(),
            metrics,
            journal,
        );
        dispatcher.start_declared();
        // The last run's work first, in per-package order.
        dispatcher.restore(recovered.jobs);
        let http = match http_listener {
            Some(listener) => Some(
                http::serve(listener, dispatcher.clone(), readiness, shutdown.clone()).map_err(
                    |source| StartError::Http {
                        addr: config.http.listen.clone(),
                        source,
                    },
                )?,
            ),
            None => None,
        };
        let flush = Duration::from_millis(c.flush_timeout_ms);
        let embedded = broker.is_some();
        let task = tokio::spawn({
            let dispatcher = dispatcher.clone();
            let idle_s = c.package_idle_s.max(1);
            async move {
                // Idle packages are looked for a few times per `package_idle_s`, on this
                // task: none is released while a publish for it is being handed over.
                let mut sweep =
                    tokio::time::interval(Duration::from_secs((idle_s / 4).clamp(1, 60)));
                sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        publish = inbound.recv() => match publish {
                            Some(p) => dispatcher.handle(p),
                            None => break,
                        },
                        _ = sweep.tick() => dispatcher.release_idle(),
                    }
                }
                tracing::info!("shutting down: delivering queued work");
                let deadline = tokio::time::Instant::now() + flush;
                if let Some(gate) = &gate {
                    // The embedded broker takes no more, and what it took is journaled.
                    gate.close();
                    publisher.publish(&drain_topic, "", false);
                    let drain = async {
                        loop {
                            tokio::select! {
                                _ = gate.drained() => break,
                                publish = inbound.recv() => match publish {
                                    Some(p) => dispatcher.handle(p),
                                    None => break,
                                },
                            }
                        }
                    };
                    if tokio::time::timeout_at(deadline, drain).await.is_err() {
                        tracing::warn!("shutdown: flush time up before every publish the embedded broker took reached the journal");
                    }
                }
                dispatcher
                    .shutdown(deadline.saturating_duration_since(tokio::time::Instant::now()))
                    .await;
                // What is left is committed, and what was kept acknowledged; a journal
                // that cannot be written is given up at the deadline.
                journal_stop.cancel();
                tokio::spawn(async move {
                    tokio::time::sleep_until(deadline).await;
                    journal_give_up.cancel();
                });
                let _ = journal_task.await;
                mqtt_stop.cancel();
                let _ = mqtt_task.await;
                if embedded {
                    // The broker dies with the process: give its router a moment to
                    // forward the last publishes (`offline`, errors) to the devices.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        Ok(Self {
            broker,
            dispatcher,
            http,
            task,
        })
    }

    /// Waits until the adapter has shut down (queued work delivered or flush time up,
    /// `offline` published).
    pub async fn wait(self) {
        let _ = self.task.await;
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
