#!/usr/bin/env python3
"""A second verifier of a SAM audit export, written from docs/audit-export.md
only: it shares no code with samctl's (Rust) verifier, so that a mistake in
one is not repeated in the other.

Usage: audit_verify.py EXPORT KEY
KEY is a file holding the SAM's attestation public key as PEM SPKI or as a
hex uncompressed SEC1 point, or that hex itself.
Exit codes: 0 verified, 1 not verified, 2 unusable key or file.
Needs the `cryptography` package (Debian: python3-cryptography).
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

CHAIN_LABEL = b"sam/audit/v1"
CHECKPOINT_LABEL = b"sam/audit-checkpoint/v1"
MAC_LEN = 32


def load_key(arg):
    try:
        with open(arg, "rb") as f:
            data = f.read().strip()
    except OSError:
        data = arg.encode().strip()
    if data.startswith(b"-----BEGIN PUBLIC KEY-----"):
        key = serialization.load_pem_public_key(data)
    else:
        key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), bytes.fromhex(data.decode("ascii"))
        )
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 public key")
    return key


def varint(buf, i):
    """An unsigned LEB128 varint (postcard) at buf[i]; the value and the next index."""
    value, shift = 0, 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        key = load_key(sys.argv[2])
        with open(sys.argv[1], encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print("Audit trail verification ... failed")
        print(f"audit_verify.py: {e}", file=sys.stderr)
        return 2

    problems = []
    next_seq, head, boot = 0, bytes(32), 0
    at_checkpoint = False
    records = checkpoints = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        at_checkpoint = False
        try:
            obj = json.loads(line)
        except ValueError:
            problems.append(f"line {n}: not JSON")
            continue
        if "checkpoint" in obj:
            try:
                c = obj["checkpoint"]
                cp_next = int(c["next_seq"])
                cp_head = bytes.fromhex(c["head"])
                cp_boot = int(c["boot"])
                cp_time = int(c["time"])
                signature = base64.b64decode(c["signature"], validate=True)
                if len(cp_head) != 32:
                    raise ValueError("head is not 32 bytes")
                message = (
                    CHECKPOINT_LABEL
                    + cp_next.to_bytes(8, "big")
                    + cp_head
                    + cp_boot.to_bytes(4, "big")
                    + cp_time.to_bytes(8, "big", signed=True)
                )
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                problems.append(f"line {n}: malformed checkpoint ({e})")
                continue
            try:
                # ECDSA with SHA-256 over the message: the signed digest is
                # SHA-256(message).
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                problems.append(f"line {n}: checkpoint signature does not verify")
                continue
            if cp_next != next_seq or cp_head != head:
                problems.append(f"line {n}: checkpoint does not match the chain")
                continue
            if cp_boot < boot:
                problems.append(f"line {n}: checkpoint boot older than its records")
                continue
            checkpoints += 1
            at_checkpoint = True
        else:
            records += 1
            try:
                record = base64.b64decode(obj["record"], validate=True)
                entry = record[:-MAC_LEN]
                if len(record) < MAC_LEN + 1 + 32:
                    raise ValueError("record too short")
                seq, i = varint(entry, 0)
                prev = entry[i : i + 32]
                i += 32
                _time, i = varint(entry, i)
                rec_boot, i = varint(entry, i)
                if i > len(entry):
                    raise ValueError("record too short")
            except (KeyError, TypeError, ValueError) as e:
                problems.append(f"line {n}: malformed record ({e})")
                continue
            if seq != next_seq:
                problems.append(f"line {n}: seq {seq} where {next_seq} was due")
            elif prev != head:
                problems.append(f"line {n}: prev is not the chain hash before it")
            if rec_boot < boot:
                problems.append(f"line {n}: boot counter goes back")
            head = hashlib.sha256(CHAIN_LABEL + entry).digest()
            next_seq = seq + 1
            boot = max(boot, rec_boot)
    if not at_checkpoint:
        problems.append("the trail does not end at a signed checkpoint")

    print("Audit trail verification ... " + ("failed" if problems else "ok"))
    for p in problems:
        print("  " + p)
    print(f"  {records} records, {checkpoints} checkpoints")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
