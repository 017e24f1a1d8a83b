//! The console lines of the management operations, worded as in seed
//! Table 52 ("Calling of management operations per manageSAM.sh and
//! manageFW.sh"). The table's "(0)"/"(1)" is the exit code, not part of
//! the line.
//!
//! Two lines are kept exactly as the seed writes them although they look
//! like slips: "XYZ code integrity check ... failed." ends with a full stop
//! in the Check Code Integrity row (not in the Start row), and the failure
//! of Set IdP Public Keys reads "Import of Public Keys ... failed". The
//! Start row's missing closing quote (`"sam<instanceId> has been
//! abandoned`) is not copied.
//!
//! Lines for operations the table does not list (first Privileged User,
//! a failed stop) follow the same pattern.

/// The subsystem name of an instance: `samd` for the default instance,
/// `sam<id>` otherwise (the seed's `"sam<instanceId>"`).
pub fn subsystem(instance: &str) -> String {
    if instance.is_empty() {
        "samd".to_owned()
    } else {
        format!("sam{instance}")
    }
}

/// Start, ok.
pub fn started(subsystem: &str) -> String {
    format!("The subsystem \"{subsystem}\" has been started ... ok")
}

/// Start, already running (exit code 0).
pub fn already_running(subsystem: &str) -> String {
    format!("The subsystem \"{subsystem}\" is already running ... warning")
}

/// Start, failed.
pub fn start_abandoned(subsystem: &str) -> String {
    format!("Starting the subsystem \"{subsystem}\" has been abandoned ... failed")
}

/// Stop, ok.
pub fn stopped(subsystem: &str) -> String {
    format!("The subsystem \"{subsystem}\" has been stopped ... ok")
}

/// Stop, not running (exit code 0).
pub fn not_running(subsystem: &str) -> String {
    format!("The subsystem \"{subsystem}\" is not running ... warning")
}

/// Stop, failed (not in the table).
pub fn stop_failed(subsystem: &str) -> String {
    format!("Stopping the subsystem \"{subsystem}\" ... failed")
}

/// Code integrity of one component (`XYZ`), ok.
pub fn code_ok(component: &str) -> String {
    format!("{component} code integrity check ... ok")
}

/// Code integrity of one component, failed (Check Code Integrity row).
pub fn code_failed(component: &str) -> String {
    format!("{component} code integrity check ... failed.")
}

/// Code integrity of one component, failed, as part of Start.
pub fn code_failed_at_start(component: &str) -> String {
    format!("{component} code integrity check ... failed")
}

/// The ok and failed lines of a one-line operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    /// Printed on success (exit code 0).
    pub ok: &'static str,
    /// Printed on failure (exit code 1, or 2 for a usage error).
    pub failed: &'static str,
}

/// Check Data Integrity.
pub const DATA_INTEGRITY: Lines = Lines {
    ok: "Data integrity check ... ok",
    failed: "Data integrity check ... failed",
};

/// Initialize SAM Firmware.
pub const INIT: Lines = Lines {
    ok: "Initialization of SAM Firmware ... ok",
    failed: "Initialization of SAM Firmware ... failed",
};

/// Set IdP Public Keys.
pub const IDP_KEYS: Lines = Lines {
    ok: "Import of IdP Public Keys ... ok",
    failed: "Import of Public Keys ... failed",
};

/// The firmware's policy (not in the table).
pub const POLICY: Lines = Lines {
    ok: "Setting of the SAM Firmware policy ... ok",
    failed: "Setting of the SAM Firmware policy ... failed",
};

/// Enrolment of the first Privileged User (not in the table).
pub const ENROL: Lines = Lines {
    ok: "Enrolment of the first Privileged User ... ok",
    failed: "Enrolment of the first Privileged User ... failed",
};

/// The offline audit verification (not in the table).
pub const AUDIT_VERIFY: Lines = Lines {
    ok: "Audit trail verification ... ok",
    failed: "Audit trail verification ... failed",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_table_52() {
        assert_eq!(subsystem(""), "samd");
        assert_eq!(
            started(&subsystem("1")),
            "The subsystem \"sam1\" has been started ... ok"
        );
        assert_eq!(code_failed("samd"), "samd code integrity check ... failed.");
        assert_eq!(IDP_KEYS.failed, "Import of Public Keys ... failed");
    }
}
