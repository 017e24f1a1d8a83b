//! # `sam-harness` — DEVELOPMENT ONLY
//!
//! Starts SAM deployments on one machine, for the demo (`sam-demo`), the
//! crash test (`sam-crashtest`), the benchmarks and the soak test
//! (`sam-bench`) and the host's tests, so that each of them keeps only its
//! own story, cycles, measurements and assertions.
//!
//! * [`Binaries`]: where the built `samd`, `samctl` and `sam-simulator`
//!   are, and a clear error when some are missing.
//! * [`SamdConfig`]: `samd.toml` from a struct (listener, TLS files,
//!   store, in-process or socket firmware, log filter, connectors, extra
//!   sections for later listeners); [`SamdSpec`] adds the file and log
//!   paths and spawns a [`Samd`], which waits for `/healthz` or
//!   `/readyz` with a timeout (the error quotes the tail of samd's log),
//!   stops cleanly (SIGTERM) or is killed (SIGKILL).
//! * [`SimulatorSpec`]: `sam-simulator init` (a new key domain, or
//!   another HSM of one with `--import-mbk`), and `sam-simulator serve`
//!   as a [`Simulator`] for the socket transport.
//! * [`Samctl`]: samctl as a child process, with typed results
//!   ([`SamctlOutput`]: exit code, stdout, stderr).
//! * [`Deployment`]: a folder with a dev PKI ([`sam_devpki::DevPki`]) in
//!   which simulators and samd instances get their files by name, so a
//!   deployment of several nodes is several specs.
//! * [`openssl`]: openssl as the independent CMS verifier of tests.
//! * [`setup`]: the dual-control firmware setup through samctl, login
//!   tokens, SADs, a Signer with keys.
//!
//! Every process is behind a guard ([`Process`]) that SIGKILLs it when
//! dropped.
#![forbid(unsafe_code)]

mod bins;
mod config;
mod deployment;
pub mod documents;
mod error;
mod identity;
pub mod openssl;
mod ports;
pub mod postgres;
mod process;
mod samctl;
mod samd;
pub mod setup;
mod simulator;

pub use bins::{Binaries, Tool};
pub use config::{ConnectorEntry, Connectors, Crypto, FirmwareLink, SamdConfig, ServerTls};
pub use deployment::Deployment;
pub use error::{HarnessError, Result};
pub use identity::{Connector, Identity};
pub use ports::{free_port, loopback_url, wait_port};
pub use process::{Process, last_line, log_tail};
pub use samctl::{Samctl, SamctlOutput};
pub use samd::{Samd, SamdSpec};
pub use simulator::{OPERATOR, Simulator, SimulatorSpec};
