//! `sam-host`: the untrusted half of the Signature Activation Module.
//!
//! The host daemon `samd` relays requests between integrators (over mutual
//! TLS) and the firmware (the trusted core), and keeps what the firmware
//! hands it: user records, wrapped keys and audit records. It decides
//! nothing about authorization (DESIGN §1): every record it stores is
//! authenticated by the firmware, so a compromised host can deny service
//! but cannot sign, escalate or rewrite history unseen.
//!
//! Layers, each with its own error type:
//!
//! * [`transport`]: how a firmware command reaches the firmware (in-process
//!   or a simulator socket) and the typed [`transport::FirmwareClient`].
//! * [`audit_sync`]: acknowledges stored audit records to the firmware's
//!   outbox and recovers the ones a crash left there.
//! * [`store`]: SQLite with group commit; an answer leaves only after the
//!   operation's records and its audit record are durable.
//! * [`api`]: the HTTPS interface (peering container, SSA signing, key
//!   manager, management, health and metrics).
//! * [`config`]: the TOML configuration and its documented defaults.
//! * [`metrics`]: Prometheus text exposition, hand-rolled to keep the
//!   dependency tree small.
//! * [`ctl`]: `samctl`, the management and integrator CLI.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit_sync;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod metrics;
pub mod store;
pub mod transport;
