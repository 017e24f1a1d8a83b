//! The HTTPS interface of `samd`.
//!
//! * [`server`]: TLS (mutual, rustls) and HTTP/1.1 + HTTP/2 (hyper), the
//!   accept loop and graceful shutdown.
//! * [`routes`]: the route table, with the permission each route needs.
//! * [`container`]: the peering message container; [`peering`],
//!   [`signing`], [`keymgr`], [`admin`], [`integrity`]: the handlers.
//! * [`error`]: every error's JSON and HTTP status.
//! * [`csc`]: the CSC service's backend and listener (crate `sam-csc`).
//!
//! Who may call what is decided per connection by the client
//! certificate's pin ([`Connector`]), per request by the route's
//! permission. That is access control to the host's interface only; every
//! decision about users and keys is the firmware's.

mod admin;
pub mod container;
pub mod csc;
pub mod error;
mod integrity;
mod json;
mod keymgr;
mod peering;
pub mod response;
pub mod routes;
pub mod server;
mod signing;
pub mod tls;

use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::WriteBatch;
use crate::transport::FirmwareClient;
use bytes::Bytes;
use container::Operation;
use error::{ApiError, HostError};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use response::{Reply, ok_json, with_type};
use routes::{Lookup, Permission, Route, RouteDef};
use sam_client::wire::Health;
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::codes::{Cause, HostOperation};
use sam_proto::command::{FirmwareState, GetStatus, ReportRefusal, SubFunction};
use sam_proto::records::{Action, MAX_NOTE_LEN};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// Every permission a connector can be given.
pub fn known_permissions() -> BTreeSet<&'static str> {
    let mut p: BTreeSet<&'static str> = Operation::ALL.iter().map(|o| o.name()).collect();
    p.extend([
        routes::GET_CHALLENGE,
        routes::KEY_MANAGER_QUERY,
        routes::KEY_MANAGER_REGISTER,
        routes::MANAGEMENT,
    ]);
    p
}

/// A peer connector (seed §7.1): a remote system known by the SHA-256 of
/// its client certificate, and what it may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    /// Name for logs and metrics.
    pub name: String,
    /// SHA-256 of the DER client certificate.
    pub pin: [u8; 32],
    /// Permissions: operation names and the named permissions of
    /// [`routes`].
    pub permissions: BTreeSet<String>,
    /// Connections it may hold at once; `None`: the server's
    /// [`server::ServeOptions::max_connections_per_connector`].
    pub max_connections: Option<usize>,
}

impl Connector {
    /// Whether the connector has `permission`.
    pub fn allows(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    fn allows_any_peering(&self) -> bool {
        Operation::ALL.iter().any(|o| self.allows(o.name()))
    }
}

/// SHA-256 of a DER certificate, the connector pin.
pub fn certificate_pin(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The configured connectors.
#[derive(Debug, Clone, Default)]
pub struct Connectors(Vec<Arc<Connector>>);

impl Connectors {
    /// The set.
    pub fn new(connectors: Vec<Connector>) -> Self {
        Self(connectors.into_iter().map(Arc::new).collect())
    }

    /// The pins of every connector: the client certificates the TLS
    /// verifier admits.
    pub fn pins(&self) -> Vec<[u8; 32]> {
        self.0.iter().map(|c| c.pin).collect()
    }

    /// The connector pinning this end-entity certificate.
    pub fn by_certificate(&self, der: &[u8]) -> Option<Arc<Connector>> {
        let pin = certificate_pin(der);
        self.0.iter().find(|c| c.pin == pin).cloned()
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// The firmware.
    pub firmware: FirmwareClient,
    /// The store.
    pub store: Store,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Who may connect.
    pub connectors: Connectors,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// The firmware's audit outbox: acknowledgements and recovery.
    pub audit_sync: Arc<crate::audit_sync::AuditSync>,
    /// The IdP certificates of bearer tokens (`[tokens]`).
    pub tokens: Arc<sam_client::bearer::TokenVerifier>,
}

impl crate::audit_sync::OutboxHost for App {
    fn firmware(&self) -> &FirmwareClient {
        &self.firmware
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn audit_sync(&self) -> &Arc<crate::audit_sync::AuditSync> {
        &self.audit_sync
    }
}

impl App {
    /// Serves one request. Never fails: every error becomes its JSON
    /// answer, and every request is counted.
    pub async fn handle(
        self: Arc<Self>,
        connector: Option<Arc<Connector>>,
        req: Request<Incoming>,
    ) -> Result<Reply, std::convert::Infallible> {
        let _in_flight = self.metrics.start_request();
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut label = "unrouted";
        let mut attempted = None;
        let result = self
            .route(connector.as_deref(), req, &mut label, &mut attempted)
            .await;
        let result = match (result, attempted) {
            (Err(e), Some(action)) if e.unreported().is_some() => {
                Err(self.report_refusal(action, e).await)
            }
            (result, _) => result,
        };
        let (outcome, reply) = match result {
            Ok(r) => ("ok", r),
            Err(e) => {
                let name = e.name();
                let peer = connector.as_ref().map_or("-", |c| c.name.as_str());
                let internal = e.log_detail.as_deref().unwrap_or("");
                if e.status().is_server_error() {
                    tracing::warn!(%method, path, connector = peer, error = name, detail = %e.detail, internal, "request failed");
                } else {
                    tracing::info!(%method, path, connector = peer, error = name, detail = %e.detail, internal, "request refused");
                }
                (name, e.into_response())
            }
        };
        self.metrics
            .observe_request(label, outcome, started.elapsed().as_secs_f64());
        Ok(reply)
    }

    /// Routes one request. `attempted` is set, for the routes whose
    /// refusals the audit trail must hold (peering, signing, key manager),
    /// to the action a refusal is recorded under.
    async fn route(
        &self,
        connector: Option<&Connector>,
        req: Request<Incoming>,
        label: &mut &'static str,
        attempted: &mut Option<Action>,
    ) -> Result<Reply, ApiError> {
        // Unpinned clients fail the TLS handshake (tls::PinnedClientVerifier);
        // should one get here, it learns nothing, not even which paths exist.
        let connector = connector.ok_or_else(|| {
            ApiError::host(
                HostError::Forbidden,
                "the client certificate is not pinned by any peer connector",
            )
        })?;
        let def: &RouteDef = match routes::lookup(req.method().as_str(), req.uri().path()) {
            Lookup::Found(d) => d,
            Lookup::WrongMethod => {
                return Err(ApiError::host(
                    HostError::MethodNotAllowed,
                    format!("{} is not allowed on {}", req.method(), req.uri().path()),
                ));
            }
            Lookup::NoPath => {
                return Err(ApiError::host(
                    HostError::RouteNotFound,
                    format!("no endpoint {}", req.uri().path()),
                ));
            }
        };
        *label = def.label;
        let forbidden = |what: &str| {
            ApiError::host(
                HostError::Forbidden,
                format!("connector {:?} may not call {what}", connector.name),
            )
        };
        match def.permission {
            Permission::AnyConnector => {}
            Permission::Named(p) if connector.allows(p) => {}
            Permission::Named(p) => return Err(forbidden(p)),
            Permission::PeeringOperation if connector.allows_any_peering() => {}
            Permission::PeeringOperation => return Err(forbidden("peering operations")),
        }
        *attempted = match def.route {
            // Until the container names its operation, a refusal is of an
            // operation samd cannot name.
            Route::Peering => Some(Action::Unknown(0)),
            Route::Signing => Some(SubFunction::Signing.into()),
            Route::PrivateKeys | Route::ListObjects => {
                Some(Action::Host(HostOperation::KeyManagerQuery))
            }
            Route::RegisterObject => Some(Action::Host(HostOperation::KeyManagerRegister)),
            _ => None,
        };
        let query = req.uri().query().map(str::to_owned);
        // A header that is not visible ASCII counts as absent.
        let authorization = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self.body(req).await?;
        match def.route {
            Route::Peering => {
                let c = container::parse(&body, sam_client::wire::strict::value_from_slice)?;
                *label = c.operation.name();
                *attempted = Some(peering::sub_function(c.operation).into());
                if !connector.allows(c.operation.name()) {
                    return Err(forbidden(c.operation.name()));
                }
                self.peering(c).await
            }
            Route::PeeringChallenge | Route::AdminChallenge => self.challenge().await,
            Route::Signing => self.ssa_signing(&body).await,
            Route::PrivateKeys => {
                self.list_objects(query.as_deref(), authorization.as_deref(), true)
                    .await
            }
            Route::ListObjects => {
                self.list_objects(query.as_deref(), authorization.as_deref(), false)
                    .await
            }
            Route::RegisterObject => self.register_object(&body).await,
            Route::AdminStatus => self.admin_status().await,
            Route::AdminInit => self.admin_init(&body).await,
            Route::AdminIdpKeys => self.admin_idp_keys(&body).await,
            Route::AdminPolicy => self.admin_policy(&body).await,
            Route::AdminEnrol => self.admin_enrol(&body).await,
            Route::AdminIntegrity => self.admin_integrity(query.as_deref()).await,
            Route::AdminAudit => self.admin_audit(query.as_deref()).await,
            Route::AdminAuditCheckpoint => self.admin_audit_checkpoint().await,
            Route::Health => Ok(ok_json(&Health {
                status: "up".into(),
            })),
            Route::Ready => self.ready().await,
            Route::Metrics => Ok(with_type(
                StatusCode::OK,
                self.metrics.render(),
                "text/plain; version=0.0.4",
            )),
        }
    }

    /// Has the firmware audit a refusal samd made itself (seed §7.1: only
    /// four error types leave no audit record), stores the record, and
    /// returns the error to answer with. If the refusal cannot be audited
    /// or its record not stored, the answer says so (NotOperational or the
    /// store's error) instead: no client sees a refusal the trail lacks.
    async fn report_refusal(&self, action: Action, e: ApiError) -> ApiError {
        let Some(error) = e.unreported() else {
            return e;
        };
        let cause = e
            .cause
            .filter(|c| c.reported_by_host())
            .unwrap_or(Cause::HostOther);
        let req = ReportRefusal {
            action,
            error,
            cause,
            note: note(&e.detail),
        };
        match self.firmware.call(&req).await {
            Ok(done) => match self.store.write(WriteBatch::audit_only([done.audit])).await {
                Ok(()) => e.accounted(),
                Err(store) => ApiError::from(store).accounted(),
            },
            Err(r) => {
                if let Some(audit) = r.audit.clone() {
                    // The firmware refused the report itself (a samd bug);
                    // its refusal is audited, keep that record.
                    let _ = self.store.write(WriteBatch::audit_only([audit])).await;
                }
                tracing::warn!(error = %r.error, detail = %r.detail, refused = e.name(), "a refusal could not be audited");
                ApiError::refused(
                    ErrorType::NotOperational,
                    Cause::HostFirmwareUnreachable,
                    "the refusal could not be audited; see samd's log",
                )
                .accounted()
            }
        }
    }

    /// Reads the body, refusing more than the configured limit.
    async fn body(&self, req: Request<Incoming>) -> Result<Bytes, ApiError> {
        match Limited::new(req.into_body(), self.max_body_bytes)
            .collect()
            .await
        {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::host(
                HostError::PayloadTooLarge,
                format!("the body exceeds {} bytes", self.max_body_bytes),
            )),
            Err(e) => Err(ApiError::seed(
                ErrorType::ContainerParseError,
                format!("cannot read the body: {e}"),
            )),
        }
    }

    /// `GET /readyz`: the firmware answers and is Operational, and the
    /// store can take writes (SQLite: no commit failed; PostgreSQL: the
    /// server is reachable now).
    async fn ready(&self) -> Result<Reply, ApiError> {
        if self.store.is_failed() {
            return Err(ApiError::seed(
                ErrorType::NotOperational,
                "the store cannot take writes: a SQLite commit failed (out of service until \
                 restart) or the PostgreSQL server cannot be reached; see samd's log",
            ));
        }
        let status = self.firmware.call(&GetStatus).await?;
        if status.state != FirmwareState::Operational {
            return Err(ApiError::seed(
                ErrorType::NotOperational,
                format!("the firmware is {}", admin::state_name(status.state)),
            ));
        }
        self.audit_sync.ensure_complete(self).await.map_err(|e| {
            ApiError::seed(
                ErrorType::NotOperational,
                format!("audit records not yet recovered from the firmware: {e}"),
            )
        })?;
        Ok(ok_json(&Health {
            status: "ready".into(),
        }))
    }
}

/// The first [`MAX_NOTE_LEN`] bytes of `detail`, cut at a character
/// boundary: the note of a reported refusal.
fn note(detail: &str) -> Blob<MAX_NOTE_LEN> {
    let mut end = detail.len().min(MAX_NOTE_LEN);
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    Blob::new(detail.as_bytes().get(..end).unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        let long = "é".repeat(40);
        let n = super::note(&long);
        assert_eq!(n.len(), 64);
        assert!(std::str::from_utf8(&n).is_ok());
        let n = super::note("abc");
        assert_eq!(&n[..], b"abc");
    }
}
