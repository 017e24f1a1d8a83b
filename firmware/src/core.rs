//! The firmware instance: its state and the services every operation uses.

use crate::crypto::{Crypto, FirmwareRng};

use crate::keys::ModuleKeys;
use crate::platform::{Platform, PlatformError};
use crate::registry::Registry;
use crate::selftest;
use crate::state::{Challenges, Config, Counters, ReplaySet};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::command::FirmwareState;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use sam_proto::records::{AuditCheckpoint, DEFAULT_CHECKPOINT_INTERVAL};
use spin::{Mutex, RwLock};

/// Firmware version, `major << 8 | minor`.
pub const FIRMWARE_VERSION: u16 = 0x0001;

/// What exists once the firmware is initialized.
#[derive(Debug)]
pub struct Operational {
    /// Keys derived from the MBK.
    pub keys: ModuleKeys,
    /// Administrators and IdP trust anchors.
    pub config: Config,
    /// The trust anchors, parsed once.
    pub anchors: Vec<crate::anchors::Anchor>,
}

/// One SAM firmware instance.
///
/// The firmware serves requests in parallel. Its shared state is split so
/// that the signing path takes each lock only briefly: the configuration
/// behind a read-write lock (written only by dual-control commands), the
/// audit counters, the challenges and the replay set each behind their own
/// mutex.
pub struct Firmware<P: Platform> {
    pub(crate) platform: P,
    pub(crate) operational: RwLock<Option<Operational>>,
    pub(crate) failed: AtomicBool,
    pub(crate) counters: Mutex<Counters>,
    /// The group commit of the audit counters: how far they are durable
    /// and whether a store is under way (see `persist_through`).
    pub(crate) commit: Mutex<crate::audit::GroupCommit>,
    pub(crate) challenges: Mutex<Challenges>,
    pub(crate) replay: Mutex<ReplaySet>,
    /// Live users and keys ([`Registry`]), loaded at boot. Management
    /// operations hold the write lock from their check to their store, so
    /// two of them cannot both pass a uniqueness check; signing only reads.
    pub(crate) registry: RwLock<Registry>,
    /// Platform time at boot: tokens issued before it are refused for
    /// signing (see [`ReplaySet`]).
    pub(crate) boot_time: i64,
    /// The last audit checkpoint signed of its own accord (every
    /// `checkpoint_interval` records), handed to the host with the next
    /// SyncAudit answer. Memory only: the host keeps the ones it got, and
    /// one lost in a restart is replaced by the next.
    pub(crate) last_checkpoint: Mutex<Option<AuditCheckpoint>>,
    /// Records between two such checkpoints (the policy's, copied here so
    /// that the audit path needs no configuration lock).
    pub(crate) checkpoint_interval: AtomicU32,
}

impl<P: Platform> core::fmt::Debug for Firmware<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Firmware")
            .field("state", &self.state())
            .finish()
    }
}

impl<P: Platform> Firmware<P> {
    /// Boots the firmware on `platform`: runs the known-answer self-tests,
    /// counts the boot, and if the configuration slot holds an initialized
    /// configuration, derives the module keys from the MBK.
    ///
    /// A failed self-test or platform service leaves the firmware in
    /// [`FirmwareState::Failed`], where every request answers
    /// `NotOperational`; booting itself never fails.
    pub fn boot(platform: P) -> Self {
        let replay = ReplaySet::with_capacity(platform.replay_capacity());
        let registry = Registry::with_capacity(platform.registry_capacity());
        let fw = Self {
            boot_time: platform.now().unwrap_or(i64::MAX),
            platform,
            operational: RwLock::new(None),
            failed: AtomicBool::new(false),
            counters: Mutex::new(Counters::default()),
            commit: Mutex::new(crate::audit::GroupCommit::default()),
            challenges: Mutex::new(Challenges::default()),
            replay: Mutex::new(replay),
            registry: RwLock::new(registry),
            last_checkpoint: Mutex::new(None),
            checkpoint_interval: AtomicU32::new(DEFAULT_CHECKPOINT_INTERVAL),
        };
        if fw.start().is_err() {
            fw.failed.store(true, Ordering::SeqCst);
        }
        fw
    }

    fn start(&self) -> Result<(), PlatformError> {
        if self.boot_time == i64::MAX {
            return Err(PlatformError);
        }
        selftest::run(self.platform.crypto()).map_err(|_| PlatformError)?;
        let mut counters = Counters::load(&self.platform)?;
        counters.boot = counters.boot.checked_add(1).ok_or(PlatformError)?;
        counters.store(&self.platform)?;
        self.commit.lock().durable = counters.next_seq;
        *self.counters.lock() = counters;
        let registry = Registry::load(&self.platform, self.platform.registry_capacity())?;
        *self.registry.write() = registry;
        if let Some(config) = Config::load(&self.platform)? {
            let op = self
                .make_operational(config, ErrorType::NotOperational)
                .map_err(|_| PlatformError)?;
            *self.operational.write() = Some(op);
        }
        Ok(())
    }

    /// Derives the keys and parses the anchors for `config`. `no_mbk` is
    /// the error when the platform has no MBK in the configured slot:
    /// InvalidInput for the slot an InitFirmware request names, a platform
    /// failure at boot (a slot that held the MBK at initialization and
    /// holds none now is a broken device, not bad input).
    pub(crate) fn make_operational(
        &self,
        config: Config,
        no_mbk: ErrorType,
    ) -> Result<Operational, ErrorType> {
        let mut mbk = zeroize::Zeroizing::new([0u8; 32]);
        if !self
            .platform
            .master_key(config.mbk_slot, &mut mbk)
            .map_err(|_| ErrorType::NotOperational)?
        {
            return Err(no_mbk);
        }
        let keys = ModuleKeys::derive(self.platform.crypto(), &mbk)
            .map_err(|_| ErrorType::NotOperational)?;
        let anchors = crate::anchors::parse_all(self.platform.crypto(), &config.idp_certs)
            .map_err(|_| ErrorType::NotOperational)?;
        self.checkpoint_interval
            .store(config.policy.checkpoint_interval, Ordering::Relaxed);
        Ok(Operational {
            keys,
            config,
            anchors,
        })
    }

    /// The lifecycle state.
    pub fn state(&self) -> FirmwareState {
        if self.failed.load(Ordering::SeqCst) {
            FirmwareState::Failed
        } else if self.operational.read().is_some() {
            FirmwareState::Operational
        } else {
            FirmwareState::Uninitialized
        }
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub(crate) fn crypto(&self) -> &P::Crypto {
        self.platform.crypto()
    }

    pub(crate) fn now(&self) -> Result<i64, ErrorType> {
        self.platform.now().map_err(|_| ErrorType::NotOperational)
    }

    /// Runs `f` with an RNG drawing from the platform, and refuses its
    /// result if any draw failed.
    pub(crate) fn with_rng<T>(
        &self,
        f: impl FnOnce(&mut FirmwareRng<'_>) -> Result<T, ErrorType>,
    ) -> Result<T, ErrorType> {
        let source = |buf: &mut [u8]| self.platform.fill_random(buf);
        let mut rng = FirmwareRng::new(&source);
        let out = f(&mut rng);
        if rng.failed() {
            return Err(ErrorType::NotOperational);
        }
        out
    }

    /// 32 random bytes.
    pub(crate) fn random32(&self) -> Result<[u8; 32], ErrorType> {
        let mut b = [0u8; 32];
        self.platform
            .fill_random(&mut b)
            .map_err(|_| ErrorType::NotOperational)?;
        Ok(b)
    }

    /// SHA-256 of the concatenation of `parts`.
    /// A DER ECDSA P-256 signature by the SAM's attestation key over a
    /// SHA-256 digest (a new key's attestation, an audit checkpoint).
    pub(crate) fn attest<const N: usize>(
        &self,
        keys: &ModuleKeys,
        digest: &[u8; 32],
    ) -> Result<Blob<N>, ErrorType> {
        let signature = self.with_rng(|rng| {
            self.crypto()
                .sign(
                    &keys.attestation_private,
                    KeyAlgorithm::EcP256,
                    HashAlgorithm::Sha256,
                    digest,
                    rng,
                )
                .map_err(|_| ErrorType::UnexpectedError)
        })?;
        Blob::from_vec(signature).map_err(|_| ErrorType::UnexpectedError)
    }

    pub(crate) fn sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        crate::crypto::sha256(self.crypto(), parts)
    }
}

/// Constant-time equality of two MACs.
pub(crate) fn mac_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    subtle::ConstantTimeEq::ct_eq(&a[..], &b[..]).into()
}

/// Postcard encoding of a value whose encoding cannot fail (plain structs
/// of bounded fields); an impossible failure becomes UnexpectedError.
pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ErrorType> {
    postcard::to_allocvec(v).map_err(|_| ErrorType::UnexpectedError)
}
