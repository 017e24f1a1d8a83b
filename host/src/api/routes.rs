//! The route table: every endpoint, its method and the connector
//! permission it needs. The router looks routes up here and nowhere else,
//! and a test checks this table against `openapi.yaml`, so the document
//! cannot drift from what the daemon serves.

/// What a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /peering`: the SAM Peering Interface message container.
    Peering,
    /// `POST /peering/challenge`: a challenge for technical signatures.
    PeeringChallenge,
    /// `POST /signing`: SSA signing (seed §7.2.1).
    Signing,
    /// `GET /private-keys` (seed §7.4.1).
    PrivateKeys,
    /// `GET /objects` (seed §7.4.2).
    ListObjects,
    /// `POST /objects` (seed §7.4.3).
    RegisterObject,
    /// `GET /admin/status`.
    AdminStatus,
    /// `POST /admin/challenge`.
    AdminChallenge,
    /// `POST /admin/init`.
    AdminInit,
    /// `POST /admin/idp-keys`.
    AdminIdpKeys,
    /// `POST /admin/enrol-privileged-user`.
    AdminEnrol,
    /// `POST /admin/policy`.
    AdminPolicy,
    /// `POST /admin/integrity`.
    AdminIntegrity,
    /// `GET /admin/audit`.
    AdminAudit,
    /// `POST /admin/audit/checkpoint`.
    AdminAuditCheckpoint,
    /// `GET /healthz`.
    Health,
    /// `GET /readyz`.
    Ready,
    /// `GET /metrics`.
    Metrics,
}

/// What a connector must be allowed to call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Any pinned connector.
    AnyConnector,
    /// The operation named in the container (checked after parsing it).
    PeeringOperation,
    /// This named permission.
    Named(&'static str),
}

/// One row of the route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteDef {
    /// HTTP method.
    pub method: &'static str,
    /// Exact path.
    pub path: &'static str,
    /// The handler.
    pub route: Route,
    /// Required permission.
    pub permission: Permission,
    /// Label for metrics and logs.
    pub label: &'static str,
}

/// The permission of the management endpoints (samctl).
pub const MANAGEMENT: &str = "management";
/// The permission to query the key manager.
pub const KEY_MANAGER_QUERY: &str = "Key_Manager_Query";
/// The permission to register objects in the key manager.
pub const KEY_MANAGER_REGISTER: &str = "Key_Manager_Register";
/// The permission to ask for a peering challenge.
pub const GET_CHALLENGE: &str = "Get_Challenge";
/// The permission to sign (container operation and `/signing`).
pub const SIGNING: &str = "Signing";

const fn def(
    method: &'static str,
    path: &'static str,
    route: Route,
    permission: Permission,
    label: &'static str,
) -> RouteDef {
    RouteDef {
        method,
        path,
        route,
        permission,
        label,
    }
}

/// Every endpoint the daemon serves.
pub const ROUTES: &[RouteDef] = &[
    def(
        "POST",
        "/peering",
        Route::Peering,
        Permission::PeeringOperation,
        "peering",
    ),
    def(
        "POST",
        "/peering/challenge",
        Route::PeeringChallenge,
        Permission::Named(GET_CHALLENGE),
        "Get_Challenge",
    ),
    def(
        "POST",
        "/signing",
        Route::Signing,
        Permission::Named(SIGNING),
        "ssa_signing",
    ),
    def(
        "GET",
        "/private-keys",
        Route::PrivateKeys,
        Permission::Named(KEY_MANAGER_QUERY),
        "private_keys",
    ),
    def(
        "GET",
        "/objects",
        Route::ListObjects,
        Permission::Named(KEY_MANAGER_QUERY),
        "list_objects",
    ),
    def(
        "POST",
        "/objects",
        Route::RegisterObject,
        Permission::Named(KEY_MANAGER_REGISTER),
        "register_object",
    ),
    def(
        "GET",
        "/admin/status",
        Route::AdminStatus,
        Permission::Named(MANAGEMENT),
        "admin_status",
    ),
    def(
        "POST",
        "/admin/challenge",
        Route::AdminChallenge,
        Permission::Named(MANAGEMENT),
        "admin_challenge",
    ),
    def(
        "POST",
        "/admin/init",
        Route::AdminInit,
        Permission::Named(MANAGEMENT),
        "admin_init",
    ),
    def(
        "POST",
        "/admin/idp-keys",
        Route::AdminIdpKeys,
        Permission::Named(MANAGEMENT),
        "admin_idp_keys",
    ),
    def(
        "POST",
        "/admin/policy",
        Route::AdminPolicy,
        Permission::Named(MANAGEMENT),
        "admin_policy",
    ),
    def(
        "POST",
        "/admin/enrol-privileged-user",
        Route::AdminEnrol,
        Permission::Named(MANAGEMENT),
        "admin_enrol_privileged_user",
    ),
    def(
        "POST",
        "/admin/integrity",
        Route::AdminIntegrity,
        Permission::Named(MANAGEMENT),
        "admin_integrity",
    ),
    def(
        "GET",
        "/admin/audit",
        Route::AdminAudit,
        Permission::Named(MANAGEMENT),
        "admin_audit",
    ),
    def(
        "POST",
        "/admin/audit/checkpoint",
        Route::AdminAuditCheckpoint,
        Permission::Named(MANAGEMENT),
        "admin_audit_checkpoint",
    ),
    def(
        "GET",
        "/healthz",
        Route::Health,
        Permission::AnyConnector,
        "healthz",
    ),
    def(
        "GET",
        "/readyz",
        Route::Ready,
        Permission::AnyConnector,
        "readyz",
    ),
    def(
        "GET",
        "/metrics",
        Route::Metrics,
        Permission::AnyConnector,
        "metrics",
    ),
];

/// The outcome of looking a request up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Found.
    Found(&'static RouteDef),
    /// The path exists with other methods.
    WrongMethod,
    /// No such path.
    NoPath,
}

/// Finds the route of `method` and `path`.
pub fn lookup(method: &str, path: &str) -> Lookup {
    let mut path_known = false;
    for r in ROUTES {
        if r.path == path {
            if r.method == method {
                return Lookup::Found(r);
            }
            path_known = true;
        }
    }
    if path_known {
        Lookup::WrongMethod
    } else {
        Lookup::NoPath
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique_and_found() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert_eq!(lookup(r.method, r.path), Lookup::Found(r));
            assert!(
                !ROUTES
                    .iter()
                    .skip(i + 1)
                    .any(|o| o.method == r.method && o.path == r.path)
            );
        }
        assert_eq!(lookup("DELETE", "/peering"), Lookup::WrongMethod);
        assert_eq!(lookup("GET", "/nope"), Lookup::NoPath);
    }
}
