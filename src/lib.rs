//! constellation-mqtt: MQTT devices as virtual packages of a Constellation server.
//!
//! # Layout
//!
//! Data flows one way each direction:
//! MQTT publish → [`dispatch`] (its router, through [`native`] or [`devices`]: `PackageId` +
//! `Intent`) → [`package`] (its queue and uplink worker) → [`constellation`] (REST
//! call); and Constellation long poll → [`package`] (its message and StateObject
//! pollers) → MQTT publish. No module uses one that uses it back
//! (`tests/structure.rs` checks it).
//!
//! - [`config`]: `topics.toml` as data: loading with the `config` crate, environment
//!   overrides, `${VAR}` secrets, relative paths from the file's directory, and
//!   validation that names the file, the key and the reason.
//! - [`mapping`]: `[[map]]` rules, `[[command]]`s and `[[preset]]`s, expanded and
//!   compiled once (Jinja templates, minijinja) into a [`mapping::Mapping`].
//! - [`setup`]: a configuration made ready to run: checked, its mapping compiled;
//!   what `check` validates is what `run` runs.
//! - [`mqtt`]: the embedded broker (rumqttd, compiled-in defaults on loopback, checked
//!   config, who may connect and TLS listeners, a 3.1.1 codec that drops MQTT 5
//!   properties) and the adapter's MQTT 5 connection (rumqttc: persistent session,
//!   resubscription, capped backoff, `_adapter/status`), with a [`mqtt::Publisher`]
//!   that never blocks, and a topic matcher that never panics.
//! - [`native`]: the native topic scheme: its topics parsed, nothing else.
//! - [`intent`]: what a device asks of Constellation, one module per intent from its
//!   decoding to its REST call.
//! - [`discovery`]: devices learned at run time (Zigbee2MQTT device lists, Homie
//!   attributes, Home Assistant discovery, ESPHome prefixes, Tasmota FullTopics), each
//!   compiled into rules and commands with literal topics; [`discovery::ha`] has one
//!   module per Home Assistant component.
//! - [`devices`]: the devices of other layouts as one thing (the mapping and the learned
//!   devices): publishes → intents, messages → their commands, their descriptors.
//! - [`dispatch`]: the [`dispatch::Router`] (publishes → intents, StateObject defaults,
//!   retained replays) and the [`dispatch::Registry`] of packages (admission: `allow`,
//!   credentials; started on first use, released when idle).
//! - [`package`]: one virtual package's whole life: its conflating, bounded queue and
//!   uplink worker, its message and StateObject long polls, its sagas, its shutdown.
//! - [`journal`]: accepted work on disk (an append-only log) until Constellation has it, group
//!   commit, publishes acknowledged in arrival order once kept; the embedded broker's
//!   retained messages.
//! - [`export`]: Constellation StateObjects published on MQTT (and announced to Home
//!   Assistant), messages sent from MQTT (`_send`).
//! - [`provisioning`]: sentinels and packages declared through the Management API
//!   when the server refuses a credential the configuration admits.
//! - [`constellation`]: the REST client of the Constellation server: one typed method
//!   per action, the spec's failure classes ([`constellation::Error`]), backoff.
//! - [`sim`]: the Constellation simulator, a faithful in-memory server with an
//!   inspection API, used by the tests, the demo, the benchmarks and firmware
//!   developers. It and [`constellation`] use nothing else of the crate.
//! - [`metrics`]: the adapter's figures (one Prometheus registry per adapter); [`http`]:
//!   its listener, `/metrics`, `/healthz`, `/readyz`, `/status`.
//! - [`adapter`]: wires the above together; [`demo`], [`check`] and [`init`] are the
//!   other commands.
//! - [`report`]: problems on `error` topics, each with a stable code, logged at a
//!   bounded rate, refused publishes counted.
//! - [`secret`]: access keys and passwords that no `Debug` shows.
//! - [`names`]: naming rules shared by configuration and topics; [`lock`],
//!   [`shutdown`], [`logging`], [`tls`], [`console`]: process plumbing.

pub mod adapter;
pub mod check;
pub mod config;
pub mod console;
pub mod constellation;
pub mod demo;
pub mod devices;
pub mod discovery;
pub mod dispatch;
pub mod export;
pub mod http;
pub mod init;
pub mod intent;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod mapping;
pub mod metrics;
pub mod mqtt;
pub mod names;
pub mod native;
pub mod package;
pub mod provisioning;
pub mod report;
pub mod secret;
pub mod setup;
pub mod shutdown;
pub mod sim;
pub mod tls;
