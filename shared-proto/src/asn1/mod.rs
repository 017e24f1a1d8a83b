//! DER types of the Signature Activation Data and the identity token (seed
//! §8), with the private OIDs of the token extensions.
//!
//! The seed's ASN.1 is garbled in places and leaves types undefined; the
//! decisions taken here, each documented at its type:
//!
//! * **Strictness.** [`SignedIdentityToken::from_der_strict`] and
//!   [`Sad::from_der_strict`] decode with `der`'s DER reader (definite,
//!   minimal lengths), refuse trailing bytes and inputs over
//!   [`crate::command::MAX_TOKEN_LEN`] / [`crate::command::MAX_SAD_LEN`],
//!   limit a SAD to [`crate::command::MAX_HASHES`] hash values, and finally
//!   re-encode and require the input back byte for byte. That last step
//!   catches whatever `der` tolerates (notably an unsorted `SET OF`, which
//!   `der` 0.8.3 sorts silently while decoding).
//! * **DirectoryString** (`userId`, `keyid`, `app`, `role`) is accepted only
//!   as UTF8String.
//! * **SET OF** is [`der::asn1::SetOfVec`], sorted in DER order on
//!   construction; an unsorted input fails the re-encoding check.
//! * **Tags.** `[n] IMPLICIT CompactExtensions` are context-specific,
//!   constructed and mandatory, as written (an empty set is `A0 00` /
//!   `A2 00`). `app [0]` and `role [1]` of a long role association are
//!   EXPLICIT because `DirectoryString` is a CHOICE (X.680 §31.2.7).
//! * **CompactRoleAssociation** is a CHOICE of two untagged SEQUENCEs; the
//!   alternative is recognised by the first element inside the SEQUENCE
//!   (OCTET STRING → short, `[0]` → long), the wire form gets no extra tag.
//! * **IssuerSerial** is RFC 5755's, restricted to one `directoryName` and
//!   no `issuerUID` ([`IssuerSerial::matches_parts`]).
//! * **`data ANY DEFINED BY oid`** is [`der::Any`], decoded strictly only on
//!   request; the accessors refuse a duplicated OID.
//! * **Signed bytes.** The IdP signs DER(`CompactIdentityToken`)
//!   ([`SignedIdentityToken::signed_bytes`]); the SAD key signs DER(`SADTBS`)
//!   ([`Sad::signed_bytes`]) with the scheme and hash fitted to the SAD
//!   key's type (no algorithm field exists for it); `hashAlgorithm` names
//!   the digest of `tbsHashValues`.
//! * **OIDs.** The private OIDs are `2.25.<UUID>` ([`oids`]). `const-oid`
//!   0.10 cannot hold arcs above `u32::MAX` (it even refuses to decode
//!   them), so OIDs that may be private use this module's [`Oid`].

mod algorithm;
mod error;
mod extensions;
mod groups;
mod issuer;
pub mod oid;
pub mod oids;
mod sad;
mod strict;
mod token;

pub use algorithm::{SchemeKind, digest_algorithm, signature_algorithm, signature_hash};
pub use error::Asn1Error;
pub use extensions::{CompactExtension, CompactExtensions, IdentificationLevel};
pub use groups::{
    CompactGroupAssociation, CompactLongRoleAssociation, CompactRoleAssociation,
    CompactShortRoleAssociation,
};
pub use issuer::IssuerSerial;
pub use oid::{MAX_OID_LEN, Oid};
pub use sad::{Sad, SadTbs};
pub use token::{CompactIdentityToken, SignedIdentityToken};
