//! Development keys and documents: administrators, an IdP with a
//! self-signed certificate, identity tokens, a signer's SAD key and SADs;
//! the firmware's test keys (`sam-testkeys`), so both suites sign alike.

pub use sam_testkeys::*;
