//! Identifiers and small enumerations shared by every message.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A 128-bit identifier written as a canonical, lower-case, hyphenated UUID
/// (`8-4-4-4-12` hex digits).
///
/// Both UserIDs and KeyIDs are UUIDs (seed §7.1.1 says so for UserIDs; we
/// chose the same for KeyIDs so that a KeyID never reveals the key). Parsing
/// accepts upper-case hex too but formatting is always lower-case; the
/// firmware compares the 16 bytes, never the text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Uuid(pub [u8; 16]);

/// A UUID string was not in `8-4-4-4-12` hex form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadUuid;

impl Uuid {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 36;

    /// Parses the hyphenated text form, nothing else (no braces, no URN).
    pub fn parse(text: &str) -> Result<Self, BadUuid> {
        let t = text.as_bytes();
        if t.len() != Self::TEXT_LEN {
            return Err(BadUuid);
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in t.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(BadUuid);
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(BadUuid),
            };
            let byte = out.get_mut(nibbles / 2).ok_or(BadUuid)?;
            *byte = (*byte << 4) | v;
            nibbles += 1;
        }
        Ok(Self(out))
    }

    /// Builds a random (version 4, RFC 9562) UUID from 16 random bytes.
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A UserID (seed §7.1.1: "The 'UserID' is a UUID").
pub type UserId = Uuid;
/// A KeyID, chosen by the firmware when it generates the key.
pub type KeyId = Uuid;

/// The role a user record carries (seed Table 2 and Table 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Creates privileged users and signers, maintains signers, manages keys.
    PrivilegedUser,
    /// Signs with its own keys; maintains itself; manages its own keys.
    Signer,
    /// A technical deputy that may only create signers; authenticates with a
    /// signature whose certificate is in its user record.
    PrivilegedUserTechnical,
}

/// The signer-key algorithms the firmware generates (seed §7.1.4: "EC or
/// RSA", with a named curve or a key length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256 (secp256r1).
    EcP256,
    /// ECDSA over NIST P-384 (secp384r1).
    EcP384,
    /// RSA, 2048-bit modulus, PKCS#1 v1.5 signatures.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
}

impl KeyAlgorithm {
    /// All algorithms, for tests and help texts.
    pub const ALL: [KeyAlgorithm; 5] = [
        Self::EcP256,
        Self::EcP384,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
    ];

    /// RSA modulus size in bits, `None` for EC.
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            Self::EcP256 | Self::EcP384 => None,
        }
    }

    /// Largest signature in bytes (DER ECDSA or RSA modulus length).
    pub const fn max_signature_len(self) -> usize {
        match self {
            Self::EcP256 => 72,
            Self::EcP384 => 104,
            Self::Rsa2048 => 256,
            Self::Rsa3072 => 384,
            Self::Rsa4096 => 512,
        }
    }
}

/// A digest algorithm named in a SAD (seed §8.1 `hashAlgorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashAlgorithm {
    /// SHA-256, 32-byte digests.
    Sha256,
    /// SHA-384, 48-byte digests.
    Sha384,
    /// SHA-512, 64-byte digests.
    Sha512,
}

impl HashAlgorithm {
    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn uuid_text_round_trips_and_rejects_variants() {
        let s = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
        let u = Uuid::parse(s).unwrap();
        assert_eq!(u.to_string(), s);
        assert_eq!(Uuid::parse(&s.to_uppercase()).unwrap(), u);
        for bad in [
            "",
            "0f1e2d3c4b5a49788695a4b3c2d1e0f9",
            "{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f}",
            "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg",
            "0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9",
            "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9 ",
        ] {
            assert_eq!(Uuid::parse(bad), Err(BadUuid), "{bad:?}");
        }
    }

    #[test]
    fn random_uuid_has_version_4_and_rfc_variant() {
        let u = Uuid::from_random([0xff; 16]).to_string();
        assert_eq!(u.as_bytes()[14], b'4');
        assert_eq!(u.as_bytes()[19], b'b');
    }
}
