//! The HTTPS interface of `samd`.
//!
//! * [`server`]: TLS (mutual, rustls) and HTTP/1.1 + HTTP/2 (hyper), the
//!   accept loop and graceful shutdown.
//! * [`routes`]: the route table, with the permission each route needs.
//! * [`container`]: the peering message container; [`peering`],
//!   [`signing`], [`keymgr`], [`admin`], [`integrity`]: the handlers.
//! * [`error`]: every error's JSON and HTTP status.
//!
//! Who may call what is decided per connection by the client
//! certificate's pin ([`Connector`]), per request by the route's
//! permission. That is access control to the host's interface only; every
//! decision about users and keys is the firmware's.

mod admin;
pub mod container;
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
use sam_proto::command::{FirmwareState, GetStatus};
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
        let result = self.route(connector.as_deref(), req, &mut label).await;
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

    async fn route(
        &self,
        connector: Option<&Connector>,
        req: Request<Incoming>,
        label: &mut &'static str,
    ) -> Result<Reply, ApiError> {
        // Unpinned clients learn nothing, not even which paths exist.
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
        let query = req.uri().query().map(str::to_owned);
        let body = self.body(req).await?;
        match def.route {
            Route::Peering => {
                let c = container::parse(&body, sam_client::wire::strict::value_from_slice)?;
                *label = c.operation.name();
                if !connector.allows(c.operation.name()) {
                    return Err(forbidden(c.operation.name()));
                }
                self.peering(c).await
            }
            Route::PeeringChallenge | Route::AdminChallenge => self.challenge().await,
            Route::Signing => self.ssa_signing(&body).await,
            Route::PrivateKeys => self.list_objects(query.as_deref(), true).await,
            Route::ListObjects => self.list_objects(query.as_deref(), false).await,
            Route::RegisterObject => self.register_object(&body).await,
            Route::AdminStatus => self.admin_status().await,
            Route::AdminInit => self.admin_init(&body).await,
            Route::AdminIdpKeys => self.admin_idp_keys(&body).await,
            Route::AdminPolicy => self.admin_policy(&body).await,
            Route::AdminEnrol => self.admin_enrol(&body).await,
            Route::AdminIntegrity => self.admin_integrity().await,
            Route::AdminAudit => self.admin_audit(query.as_deref()).await,
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
    /// store has not failed.
    async fn ready(&self) -> Result<Reply, ApiError> {
        if self.store.is_failed() {
            return Err(ApiError::seed(
                ErrorType::NotOperational,
                "the store failed a commit and is out of service until restart",
            ));
        }
        let status = self.firmware.call(&GetStatus).await?;
        if status.state != FirmwareState::Operational {
            return Err(ApiError::seed(
                ErrorType::NotOperational,
                format!("the firmware is {}", admin::state_name(status.state)),
            ));
        }
        self.audit_sync.ensure_synced(self).await.map_err(|e| {
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
