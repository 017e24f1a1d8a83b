//! Fault injection: the ways a real HSM misbehaves, on demand.
//!
//! The host must survive an HSM that is down, slow, or that dies between
//! two steps of an operation (DESIGN §5: durability, and the audit gap the
//! firmware's counter exposes). Tests switch these on through
//! [`crate::Simulator::faults`], the `serve` command through its
//! `--fault-*` flags. Every switch can be flipped while requests are in
//! flight; each request reads the switches once, when it starts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The fault switches of one simulator. All off by default.
#[derive(Debug, Default)]
pub struct Faults {
    not_operational: AtomicBool,
    latency_micros: AtomicU64,
    abort_after_store: AtomicBool,
}

impl Faults {
    /// Whether every call is answered `NotOperational` without reaching the
    /// firmware (as a CP5 whose module is not loaded answers).
    pub fn not_operational(&self) -> bool {
        self.not_operational.load(Ordering::SeqCst)
    }

    /// Switches the `NotOperational` fault.
    pub fn set_not_operational(&self, on: bool) {
        self.not_operational.store(on, Ordering::SeqCst);
    }

    /// The delay added before each call (zero: none).
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_micros.load(Ordering::SeqCst))
    }

    /// Sets the delay added before each call. In `serve` mode it is waited
    /// out asynchronously, like network latency, so it does not occupy a
    /// firmware worker; in-process callers of [`crate::Simulator::call`]
    /// sleep on their own thread.
    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.store(micros, Ordering::SeqCst);
    }

    /// Whether the crash-after-store fault is armed.
    pub fn abort_after_store(&self) -> bool {
        self.abort_after_store.load(Ordering::SeqCst)
    }

    /// Arms (or disarms) the crash-after-store fault: the process calls
    /// [`std::process::abort`] right after the next successful durable
    /// write of the counters slot, i.e. after the firmware advanced its
    /// audit counter and before the operation's answer leaves. That is the
    /// crash a host must detect as a gap at the tail of its audit trail.
    ///
    /// It fires once. It aborts the whole process, so it is meant for a
    /// simulator running as its own process (`sam-simulator serve
    /// --fault-abort-after-store`); armed in-process it kills the caller.
    /// The boot itself writes the counters, so arm it after
    /// [`crate::Simulator::open`].
    pub fn set_abort_after_store(&self, armed: bool) {
        self.abort_after_store.store(armed, Ordering::SeqCst);
    }

    /// Disarms the crash fault and reports whether it was armed: the
    /// platform calls this after each counters write.
    pub(crate) fn take_abort_after_store(&self) -> bool {
        self.abort_after_store.swap(false, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_default_off_and_toggle() {
        let f = Faults::default();
        assert!(!f.not_operational());
        assert_eq!(f.latency(), Duration::ZERO);
        assert!(!f.abort_after_store());
        f.set_not_operational(true);
        f.set_latency(Duration::from_millis(15));
        f.set_abort_after_store(true);
        assert!(f.not_operational());
        assert_eq!(f.latency(), Duration::from_millis(15));
        assert!(f.take_abort_after_store());
        assert!(!f.take_abort_after_store(), "the crash fault fires once");
    }
}
