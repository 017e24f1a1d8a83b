//! Algorithm identifiers of the token signature and of the SAD.

use super::Asn1Error;
use crate::ids::HashAlgorithm;
use der::Any;
use der::asn1::ObjectIdentifier;
use spki::AlgorithmIdentifierOwned;

/// The signature scheme named by a signature-algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemeKind {
    /// ECDSA (`ecdsa-with-SHA*`, RFC 5758), DER `Ecdsa-Sig-Value`.
    Ecdsa,
    /// RSASSA-PKCS1-v1_5 (`sha*WithRSAEncryption`, RFC 8017 / RFC 4055).
    RsaPkcs1v15,
}

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// The hash and, for a signature algorithm, the scheme of an algorithm
/// identifier.
///
/// * `ecdsa-with-SHA256/384/512` → `(hash, Some(Ecdsa))`; parameters must
///   be absent (RFC 5758 §3.2);
/// * `sha256/384/512WithRSAEncryption` → `(hash, Some(RsaPkcs1v15))`;
///   parameters NULL (RFC 4055 §5) or absent (tolerated, as many encoders
///   omit it);
/// * bare `id-sha256/384/512` → `(hash, None)`, the form of the SAD's
///   `hashAlgorithm`; parameters absent or NULL (RFC 5754 §2).
///
/// Anything else, including other parameters, is
/// [`Asn1Error::UnsupportedAlgorithm`].
pub fn signature_hash(
    alg: &AlgorithmIdentifierOwned,
) -> Result<(HashAlgorithm, Option<SchemeKind>), Asn1Error> {
    use HashAlgorithm::{Sha256, Sha384, Sha512};
    let (hash, scheme) = match alg.oid {
        ECDSA_WITH_SHA256 => (Sha256, Some(SchemeKind::Ecdsa)),
        ECDSA_WITH_SHA384 => (Sha384, Some(SchemeKind::Ecdsa)),
        ECDSA_WITH_SHA512 => (Sha512, Some(SchemeKind::Ecdsa)),
        SHA256_WITH_RSA => (Sha256, Some(SchemeKind::RsaPkcs1v15)),
        SHA384_WITH_RSA => (Sha384, Some(SchemeKind::RsaPkcs1v15)),
        SHA512_WITH_RSA => (Sha512, Some(SchemeKind::RsaPkcs1v15)),
        ID_SHA256 => (Sha256, None),
        ID_SHA384 => (Sha384, None),
        ID_SHA512 => (Sha512, None),
        _ => return Err(Asn1Error::UnsupportedAlgorithm),
    };
    let parameters_ok = match (&alg.parameters, scheme) {
        (None, _) => true,
        (Some(_), Some(SchemeKind::Ecdsa)) => false,
        (Some(p), Some(SchemeKind::RsaPkcs1v15) | None) => p.is_null(),
    };
    if parameters_ok {
        Ok((hash, scheme))
    } else {
        Err(Asn1Error::UnsupportedAlgorithm)
    }
}

/// The bare digest identifier of `hash` (`id-sha*`, parameters absent as
/// RFC 5754 §2 recommends), for a SAD's `hashAlgorithm`.
pub fn digest_algorithm(hash: HashAlgorithm) -> AlgorithmIdentifierOwned {
    let oid = match hash {
        HashAlgorithm::Sha256 => ID_SHA256,
        HashAlgorithm::Sha384 => ID_SHA384,
        HashAlgorithm::Sha512 => ID_SHA512,
    };
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

/// The signature-algorithm identifier of `scheme` with `hash`: ECDSA with
/// parameters absent, RSA PKCS#1 v1.5 with parameters NULL.
pub fn signature_algorithm(hash: HashAlgorithm, scheme: SchemeKind) -> AlgorithmIdentifierOwned {
    use HashAlgorithm::{Sha256, Sha384, Sha512};
    match scheme {
        SchemeKind::Ecdsa => AlgorithmIdentifierOwned {
            oid: match hash {
                Sha256 => ECDSA_WITH_SHA256,
                Sha384 => ECDSA_WITH_SHA384,
                Sha512 => ECDSA_WITH_SHA512,
            },
            parameters: None,
        },
        SchemeKind::RsaPkcs1v15 => AlgorithmIdentifierOwned {
            oid: match hash {
                Sha256 => SHA256_WITH_RSA,
                Sha384 => SHA384_WITH_RSA,
                Sha512 => SHA512_WITH_RSA,
            },
            parameters: Some(Any::null()),
        },
    }
}
