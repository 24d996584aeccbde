//! constellation-mqtt: MQTT devices as virtual packages of a Constellation server.
//!
//! # Layout
//!
//! Data flows one way each direction:
//! MQTT publish → [`native`] (topic + payload → `PackageId` + `Intent`) → [`bridge`]
//! (per-package worker and queue) → [`constellation`] (REST call); and Constellation long
//! poll → [`downlink`] (per-package pollers) → MQTT publish.
//!
//! - [`config`]: `topics.toml`, loaded with the `config` crate, environment overrides,
//!   `${VAR}` secrets, and validation that names the file, the key and the reason.
//! - [`mqtt`]: the embedded broker (rumqttd, checked config, a 3.1.1 codec that drops
//!   MQTT 5 properties) and the adapter's MQTT 5 connection (rumqttc: persistent session,
//!   resubscription, capped backoff, `_adapter/status`), with a [`mqtt::Publisher`] that
//!   never blocks.
//! - [`native`]: the native topic scheme: parsing and decoding, nothing else.
//! - [`bridge`]: the dispatcher, admission (`allow`, credentials), StateObject defaults,
//!   and the per-package workers with their conflating, bounded queues.
//! - [`mapping`]: `[[map]]` rules, `[[command]]`s and `[[preset]]`s: other topic layouts
//!   projected into the same intents, Jinja templates compiled once (minijinja).
//! - [`discovery`]: devices learned at run time (Zigbee2MQTT device lists, Homie
//!   attributes, Home Assistant discovery, ESPHome prefixes, Tasmota FullTopics), each
//!   compiled into rules and commands with literal topics.
//! - [`downlink`]: per-package message and StateObject long polls, callbacks, sagas.
//! - [`constellation`]: the REST client of the Constellation server: one typed method
//!   per action, the spec's failure classes ([`constellation::Error`]), backoff.
//! - [`adapter`]: wires the above together; [`demo`] and [`check`] are the other
//!   commands.
//! - [`sim`]: the Constellation simulator, a faithful in-memory server with an
//!   inspection API, used by the tests, the demo, the benchmarks and firmware developers.
//! - [`names`]: naming rules shared by configuration and topics.
//! - [`shutdown`], [`logging`], [`tls`]: process plumbing.

pub mod adapter;
pub mod bridge;
pub mod check;
pub mod config;
pub mod constellation;
pub mod demo;
pub mod discovery;
pub mod downlink;
pub mod logging;
pub mod mapping;
pub mod mqtt;
pub mod names;
pub mod native;
pub mod shutdown;
pub mod sim;
pub mod tls;
