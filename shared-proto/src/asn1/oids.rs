//! The private OIDs of the identity token (DESIGN.md §4).
//!
//! All live under the registration-free arc `2.25.<UUID>` (ITU-T X.667
//! §6.3): the last arc is a random (version 4) UUID read as one unsigned
//! 128-bit integer, so no registration is needed and collisions are as
//! unlikely as UUID collisions. The UUIDs were generated once with Python's
//! `uuid.uuid4()` for this project and must never change: they are part of
//! the token format.
//!
//! Because such arcs exceed the `u32` arcs of `const-oid`, the constants are
//! [`Oid`] values, not `der::asn1::ObjectIdentifier` (see [`super::oid`]).

use super::Oid;

/// Extension `sadPublicKey`: data is the DER `SubjectPublicKeyInfo` of the
/// signer's temporary SAD key, which signs the SAD (seed §5.6).
///
/// UUID `4c7170f3-0f46-4f8b-a2ae-122f2f7e10e8`, i.e.
/// `2.25.101610348111714417413499899884494262504`.
pub const SAD_PUBLIC_KEY: Oid = Oid::from_uuid(0x4c7170f3_0f46_4f8b_a2ae_122f2f7e10e8);

/// Extension `signingScope`: data is a UTF8String naming what the token
/// authorizes; the firmware requires `"signing"` for a SAD.
///
/// UUID `f0114663-75f7-45eb-a267-0f3c5301a163`, i.e.
/// `2.25.319104415683743927112214511656047321443`.
pub const SIGNING_SCOPE: Oid = Oid::from_uuid(0xf0114663_75f7_45eb_a267_0f3c5301a163);

/// Extension `identificationLevel`: data is an ENUMERATED
/// [`super::IdentificationLevel`] (low(1), substantial(2), high(3), the
/// eIDAS levels of assurance of the user's identification).
///
/// UUID `7ce6aa5d-00f0-4828-96f7-1174ec9ba36a`, i.e.
/// `2.25.166021955132934796161031780046376510314`.
pub const IDENTIFICATION_LEVEL: Oid = Oid::from_uuid(0x7ce6aa5d_00f0_4828_96f7_1174ec9ba36a);

/// Value of `SignedIdentityToken.type` for this token format. The field is
/// optional; when present it must be this OID.
///
/// UUID `a4b1cdd0-21ec-437a-b5a3-ae25ea24734b`, i.e.
/// `2.25.218916602236612049685572449811780891467`.
pub const IDENTITY_TOKEN_TYPE: Oid = Oid::from_uuid(0xa4b1cdd0_21ec_437a_b5a3_ae25ea24734b);
