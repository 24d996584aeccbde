//! constellation-mqtt: MQTT devices as virtual packages of a Constellation server.
//!
//! # Layout
//!
//! - [`config`]: `topics.toml`, loaded with the `config` crate, environment overrides,
//!   `${VAR}` secrets, and validation that names the file, the key and the reason.
//! - [`constellation`]: the REST client of the Constellation server: one typed method
//!   per action, the spec's failure classes ([`constellation::Error`]), backoff.
//! - [`sim`]: the Constellation simulator, a faithful in-memory server with an
//!   inspection API, used by the tests, the demo and firmware developers.
//! - [`check`]: the `check` command: configuration, then `CheckAccess` per package.
//! - [`names`]: naming rules shared by configuration and topics.
//! - [`shutdown`], [`logging`], [`tls`]: process plumbing.

pub mod adapter;
pub mod bridge;
pub mod check;
pub mod config;
pub mod constellation;
pub mod demo;
pub mod downlink;
pub mod logging;
pub mod mqtt;
pub mod names;
pub mod native;
pub mod shutdown;
pub mod sim;
pub mod tls;
