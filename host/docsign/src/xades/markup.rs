//! The XML of a XAdES signature, written as text.
//!
//! Only what this module controls goes into it: algorithm URIs, base64,
//! hexadecimal identifiers, a date and a percent-encoded file name; each
//! still passes through [`escape`], so that no input can add markup. The
//! canonical forms are never derived from this text by hand: they come
//! from libxml2 after parsing it (see `c14n`).

use sam_client::verify::KeyKind;
use sam_proto::ids::HashAlgorithm;

/// XML-DSig's namespace.
pub(crate) const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XAdES 1.3.2's namespace (ETSI EN 319 132-1 keeps it).
pub(crate) const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
/// Exclusive XML canonicalization 1.0, without comments.
pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Canonical XML 1.0, without comments.
pub(crate) const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";

/// The `DigestMethod` of `hash` (RFC 6931 §2.1).
pub(crate) fn digest_method(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        HashAlgorithm::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
        HashAlgorithm::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
    }
}

/// The `SignatureMethod` of a `kind` key hashing with `hash` (RFC 6931
/// §2.3, XML-DSig 1.1 §6.4): PKCS#1 v1.5 for RSA, ECDSA with the `r || s`
/// value for EC keys.
pub(crate) fn signature_method(kind: KeyKind, hash: HashAlgorithm) -> &'static str {
    match (kind, hash) {
        (KeyKind::Rsa, HashAlgorithm::Sha256) => {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        }
        (KeyKind::Rsa, HashAlgorithm::Sha384) => {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
        }
        (KeyKind::Rsa, HashAlgorithm::Sha512) => {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
        }
        (_, HashAlgorithm::Sha256) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        (_, HashAlgorithm::Sha384) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        (_, HashAlgorithm::Sha512) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
}

/// `s` as XML character data or an attribute value in double quotes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out
}

/// A file name as a relative URI of one path segment: every byte outside
/// RFC 3986's unreserved characters percent-encoded, so that a verifier
/// resolves it to that file next to the signature and nothing else (no
/// `/`, `?`, `#` or `..` with a meaning).
pub(crate) fn file_uri(file_name: &str) -> String {
    let mut out = String::with_capacity(file_name.len());
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signed document's `ds:Reference`.
#[derive(Debug, Clone)]
pub(crate) enum DataReference {
    /// `URI=""`: the document the signature is in, less the signature,
    /// canonicalized (inclusive C14N 1.0).
    Enveloped,
    /// The separate file `uri`, its bytes as they are.
    Detached {
        /// [`file_uri`] of its name.
        uri: String,
    },
}

/// The XPath of a `ds:Signature` child, of the signature with `Id` `id`.
pub(crate) fn signature_path(id: &str, below: &str) -> String {
    format!("//ds:Signature[@Id='{id}']/{below}")
}

/// The parts of one signature that do not change once prepared; the
/// signature is put together from them around the `SignedInfo`, the
/// signature value and the unsigned properties.
#[derive(Debug, Clone)]
pub(crate) struct Skeleton {
    /// `Id` of the `ds:Signature`; the other identifiers derive from it.
    pub id: String,
    /// The `ds:KeyInfo` element.
    pub key_info: String,
    /// The `xades:SignedProperties` element.
    pub signed_properties: String,
}

/// What `xades:SignedProperties` holds (ETSI EN 319 132-1 §5.2).
pub(crate) struct Properties<'a> {
    /// `xades:SigningTime`, an `xsd:dateTime` in UTC.
    pub signing_time: &'a str,
    /// `DigestMethod` of the certificate digest.
    pub hash: HashAlgorithm,
    /// Base64 of the signer certificate's digest.
    pub cert_digest: &'a str,
    /// Base64 of the DER `IssuerSerial` (RFC 5035) of the certificate.
    pub issuer_serial: &'a str,
    /// `xades:MimeType` of the signed document.
    pub mime_type: &'a str,
}

impl Skeleton {
    /// A skeleton with `Id` `id` and the certificates (base64 of DER,
    /// signer first) in `ds:KeyInfo`.
    pub fn new(id: &str, certificates_b64: &[String], props: &Properties<'_>) -> Self {
        let mut key_info = String::from("<ds:KeyInfo><ds:X509Data>");
        for c in certificates_b64 {
            key_info.push_str(&format!(
                "<ds:X509Certificate>{}</ds:X509Certificate>",
                escape(c)
            ));
        }
        key_info.push_str("</ds:X509Data></ds:KeyInfo>");
        let signed_properties = format!(
            concat!(
                "<xades:SignedProperties Id=\"{id}-signedprops\">",
                "<xades:SignedSignatureProperties>",
                "<xades:SigningTime>{time}</xades:SigningTime>",
                "<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>",
                "<ds:DigestMethod Algorithm=\"{dm}\"/><ds:DigestValue>{cd}</ds:DigestValue>",
                "</xades:CertDigest><xades:IssuerSerialV2>{is}</xades:IssuerSerialV2>",
                "</xades:Cert></xades:SigningCertificateV2>",
                "</xades:SignedSignatureProperties>",
                "<xades:SignedDataObjectProperties>",
                "<xades:DataObjectFormat ObjectReference=\"#{id}-ref0\">",
                "<xades:MimeType>{mime}</xades:MimeType></xades:DataObjectFormat>",
                "</xades:SignedDataObjectProperties>",
                "</xades:SignedProperties>"
            ),
            id = escape(id),
            time = escape(props.signing_time),
            dm = digest_method(props.hash),
            cd = escape(props.cert_digest),
            is = escape(props.issuer_serial),
            mime = escape(props.mime_type),
        );
        Self {
            id: id.to_owned(),
            key_info,
            signed_properties,
        }
    }

    /// The `ds:Signature` with `signed_info`, the base64 signature value
    /// `value` and `unsigned` (empty, or `xades:UnsignedProperties`).
    pub fn render(&self, signed_info: &str, value: &str, unsigned: &str) -> String {
        format!(
            concat!(
                "<ds:Signature xmlns:ds=\"{ds}\" Id=\"{id}\">{si}",
                "<ds:SignatureValue Id=\"{id}-sigvalue\">{value}</ds:SignatureValue>",
                "{ki}<ds:Object>",
                "<xades:QualifyingProperties xmlns:xades=\"{xades}\" Target=\"#{id}\">",
                "{sp}{unsigned}</xades:QualifyingProperties></ds:Object></ds:Signature>"
            ),
            ds = DS,
            xades = XADES,
            id = escape(&self.id),
            si = signed_info,
            value = escape(value),
            ki = self.key_info,
            sp = self.signed_properties,
            unsigned = unsigned,
        )
    }

    /// The `ds:SignedInfo` over the document (`data`, whose digest is
    /// `data_digest`) and the signed properties (`props_digest`), both
    /// base64, signed by a `kind` key with `hash`.
    pub fn signed_info(
        &self,
        kind: KeyKind,
        hash: HashAlgorithm,
        data: &DataReference,
        data_digest: &str,
        props_digest: &str,
    ) -> String {
        let dm = digest_method(hash);
        let data_reference = match data {
            DataReference::Enveloped => format!(
                concat!(
                    "<ds:Reference Id=\"{id}-ref0\" URI=\"\"><ds:Transforms>",
                    "<ds:Transform Algorithm=\"{env}\"/><ds:Transform Algorithm=\"{c14n}\"/>",
                    "</ds:Transforms>"
                ),
                id = escape(&self.id),
                env = ENVELOPED_SIGNATURE,
                c14n = C14N,
            ),
            DataReference::Detached { uri } => format!(
                "<ds:Reference Id=\"{id}-ref0\" URI=\"{uri}\">",
                id = escape(&self.id),
                uri = escape(uri),
            ),
        };
        format!(
            concat!(
                "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{exc}\"/>",
                "<ds:SignatureMethod Algorithm=\"{sm}\"/>",
                "{data_reference}<ds:DigestMethod Algorithm=\"{dm}\"/>",
                "<ds:DigestValue>{dd}</ds:DigestValue></ds:Reference>",
                "<ds:Reference Type=\"{spt}\" URI=\"#{id}-signedprops\"><ds:Transforms>",
                "<ds:Transform Algorithm=\"{exc}\"/></ds:Transforms>",
                "<ds:DigestMethod Algorithm=\"{dm}\"/>",
                "<ds:DigestValue>{pd}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
            ),
            exc = EXC_C14N,
            sm = signature_method(kind, hash),
            data_reference = data_reference,
            dm = dm,
            dd = escape(data_digest),
            spt = SIGNED_PROPERTIES_TYPE,
            id = escape(&self.id),
            pd = escape(props_digest),
        )
    }

    /// `xades:UnsignedProperties` with the signature time-stamp
    /// `token_b64` (base64 of the DER `TimeStampToken`) over the
    /// exclusive-canonical `ds:SignatureValue` (EN 319 132-1 §5.3).
    pub fn unsigned_properties(&self, token_b64: &str) -> String {
        format!(
            concat!(
                "<xades:UnsignedProperties><xades:UnsignedSignatureProperties>",
                "<xades:SignatureTimeStamp Id=\"{id}-sigtst\">",
                "<ds:CanonicalizationMethod Algorithm=\"{exc}\"/>",
                "<xades:EncapsulatedTimeStamp>{tst}</xades:EncapsulatedTimeStamp>",
                "</xades:SignatureTimeStamp>",
                "</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
            ),
            id = escape(&self.id),
            exc = EXC_C14N,
            tst = escape(token_b64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_input_is_escaped() {
        assert_eq!(escape("a<b&\"c'>"), "a&lt;b&amp;&quot;c&apos;&gt;");
    }

    #[test]
    fn a_file_name_becomes_one_uri_segment() {
        assert_eq!(file_uri("contract v2.xml"), "contract%20v2.xml");
        assert_eq!(file_uri("../x/y?#\"é"), "..%2Fx%2Fy%3F%23%22%C3%A9");
    }
}
