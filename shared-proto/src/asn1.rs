//! DER types of the SAD and the identity token (seed §8). Filled in by the
//! asn1 module files.
