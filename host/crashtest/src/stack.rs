//! The deployment under test, started through the harness: a dev PKI,
//! one simulated HSM served on a Unix socket, one samd with the socket
//! transport, and the management connector's samctl.

use crate::{READY_WITHIN, REQUEST_TIMEOUT};
use sam_client::SamClient;
use sam_devpki::DevPki;
use sam_harness::{
    Binaries, Connector, Deployment, Identity, Samctl, SamctlOutput, Samd, SamdSpec, Simulator,
    SimulatorSpec, Tool,
};
use std::path::Path;

/// Paths and settings of the stack under test.
#[derive(Debug)]
pub struct Stack {
    deployment: Deployment,
    samd: SamdSpec,
    simulator: SimulatorSpec,
    management: Identity,
    samctl: Samctl,
}

impl Stack {
    /// The PKI, `samd.toml` and a fresh simulator state in `dir`, with the
    /// binaries of `bin`.
    pub fn create(bin: &Path, dir: &Path) -> Result<Self, String> {
        let bins = Binaries::at(bin)?;
        bins.require(&Tool::ALL)?;
        let deployment = Deployment::create(dir, bins)?;
        let simulator = deployment.simulator();
        // Short reconnection backoff: after a simulator restart samd must
        // find it again quickly, the cycles are short.
        let mut samd = deployment.samd("samd", simulator.socket_link(Some((10, 100))))?;
        samd.config = samd
            .config
            .with_comment("samd of sam-crashtest (DEVELOPMENT ONLY).")
            .with_shutdown_grace_secs(1)
            .with_log_filter("warn");
        samd.write_config()?;
        simulator.init(deployment.bins())?;
        let management = deployment.identity(Connector::Management);
        let samctl = deployment.samctl(&samd.url(), Connector::Management);
        Ok(Self {
            deployment,
            samd,
            simulator,
            management,
            samctl,
        })
    }

    /// The simulator's state directory, socket and operator.
    pub fn simulator_spec(&self) -> &SimulatorSpec {
        &self.simulator
    }

    /// The dev PKI.
    pub fn pki(&self) -> &DevPki {
        self.deployment.pki()
    }

    /// samd's SQLite file.
    pub fn db(&self) -> &Path {
        &self.samd.config.store
    }

    /// A client of samd with one of the dev PKI's connector certificates.
    pub fn client(&self, connector: Connector) -> Result<SamClient, String> {
        Ok(self
            .deployment
            .identity(connector)
            .client(&self.samd.url())?
            .with_timeout(REQUEST_TIMEOUT))
    }

    /// Starts `sam-simulator serve`; returns it once its socket accepts.
    pub fn start_simulator(&self) -> Result<Simulator, String> {
        Ok(self.simulator.serve(self.deployment.bins(), READY_WITHIN)?)
    }

    /// Starts samd; returns it once `path` answers 200: `/healthz` before
    /// the firmware is initialized, `/readyz` after.
    pub fn start_samd(&self, path: &str) -> Result<Samd, String> {
        let mut samd = self.samd.spawn(self.deployment.bins())?;
        samd.wait_for(&self.management, path, READY_WITHIN)?;
        Ok(samd)
    }

    /// Waits until samd's `GET /readyz` (firmware reachable and
    /// Operational, store not failed) answers 200.
    pub fn wait_ready(&self, samd: &mut Samd) -> Result<(), String> {
        Ok(samd.wait_ready(&self.management, READY_WITHIN)?)
    }

    /// samctl with the management connector.
    pub fn samctl(&self) -> &Samctl {
        &self.samctl
    }

    /// Runs samctl with the management connector.
    pub fn run_samctl(&self, args: &[&str]) -> Result<SamctlOutput, String> {
        Ok(self.samctl.run(args)?)
    }
}

/// Sleeps until the clock is past `second`: the firmware refuses SAD
/// tokens whose notBefore is not after its boot second (check 11).
pub fn wait_past(second: u64) {
    while sam_devpki::unix_now() <= second {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
