#!/usr/bin/env python3
"""A CSC client nobody here wrote signs a PDF through the SAM's /csc/v1.

pyHanko (PyPI, `pyhanko.sign.signers.csc_signer.CSCSigner`) drives the
CSC v1.0.4 calls itself: `credentials/info` for the certificate chain and
the algorithms, `signatures/signHash` for the signature of the CMS signed
attributes it computed. The one piece CSC leaves to each service is how a
signature is authorized (pyHanko's `CSCAuthorizationManager`); for SCAL2
here that is the signer's environment: `sam-sign sad` (our client library)
makes the seed SAD over exactly the hashes pyHanko asks to sign, and
`credentials/authorize` turns it into the service's single-use handle.

The signed PDF is then checked by pyHanko's own validator against the
development CA: intact, valid, trusted. Exit status 0 only if it is.

Usage: pyhanko_csc.py --csc URL --tls-ca PEM --bearer FILE --credential KEYID
       --sam-sign BIN --idp URL --token FILE --trust-root PEM --out PDF
"""

import argparse
import asyncio
import base64
import io
import ssl
import subprocess
import sys

import aiohttp
from asn1crypto import pem, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


class SeedSadAuthorization(CSCAuthorizationManager):
    """credentials/authorize with the seed SAD made by the signer's
    environment (`sam-sign sad`), carried in v1's `clientData`."""

    def __init__(self, session, info, credential_info, sad_command):
        super().__init__(info, credential_info)
        self.session = session
        self.sad_command = sad_command

    async def authorize_signature(self, hash_b64s) -> CSCAuthorizationInfo:
        cmd = list(self.sad_command)
        for h in hash_b64s:
            cmd += ["--hash", h]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"sam-sign sad failed: {done.stderr.strip()}")
        seed_sad = done.stdout.strip()
        body = self.format_csc_auth_request(hash_b64s=hash_b64s, client_data=seed_sad)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self.session.post(url, headers=self.auth_headers, json=body) as r:
            answer = await r.json()
            if r.status != 200:
                raise RuntimeError(f"credentials/authorize: HTTP {r.status} {answer}")
        return self.parse_csc_auth_response(answer)


def blank_pdf() -> bytes:
    """A one-page PDF written by pyHanko's own writer."""
    w = PdfFileWriter()
    content = b"BT /F1 18 Tf 72 720 Td (Signed through the SAM's CSC API) Tj ET"
    stream = generic.StreamObject(stream_data=content)
    font = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/F1"): w.add_object(font)}
            )
        }
    )
    page = PageObject(
        contents=w.add_object(stream),
        media_box=generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 612, 792)]),
        resources=resources,
    )
    w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def load_certs(path):
    with open(path, "rb") as f:
        data = f.read()
    if pem.detect(data):
        return [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
    return [x509.Certificate.load(data)]


async def main(a) -> int:
    ctx = ssl.create_default_context(cafile=a.tls_ca)
    with open(a.bearer, "rb") as f:
        raw = f.read().strip()
    # The bearer file holds the DER identity token or its base64.
    try:
        bearer = base64.b64encode(base64.b64decode(raw, validate=True)).decode()
    except ValueError:
        bearer = base64.b64encode(raw).decode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        info = CSCServiceSessionInfo(
            service_url=a.csc, credential_id=a.credential, oauth_token=bearer, api_ver="v1"
        )
        credential_info = await fetch_certs_in_csc_credential(session, info)
        print(
            f"pyHanko: credentials/info: SCAL2 hash pinning={credential_info.hash_pinning_required}"
            f", multisign={credential_info.max_batch_size}"
            f", mechanisms={sorted(credential_info.supported_mechanisms)}"
        )
        sad_command = [a.sam_sign, "sad", "--idp", a.idp, "--token", a.token,
                       "--key-id", a.credential, "--hash-algorithm", "sha256"]
        auth = SeedSadAuthorization(session, info, credential_info, sad_command)
        signer = CSCSigner(session, auth)
        writer = IncrementalPdfFileWriter(io.BytesIO(blank_pdf()))
        meta = signers.PdfSignatureMetadata(field_name="SAMSignature", md_algorithm="sha256")
        signed = await signers.async_sign_pdf(writer, meta, signer=signer)
    data = signed.getvalue()
    with open(a.out, "wb") as f:
        f.write(data)
    reader = PdfFileReader(io.BytesIO(data))
    roots = load_certs(a.trust_root)
    vc = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = await async_validate_pdf_signature(reader.embedded_signatures[0], vc)
    print("pyHanko validation:", status.summary())
    ok = status.intact and status.valid and status.trusted and status.bottom_line
    print(f"pyHanko verdict: intact={status.intact} valid={status.valid} "
          f"trusted={status.trusted} coverage={status.coverage.name}")
    return 0 if ok else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("csc", "tls-ca", "bearer", "credential", "sam-sign", "idp", "token",
                 "trust-root", "out"):
        p.add_argument("--" + name, required=True)
    sys.exit(asyncio.run(main(p.parse_args())))
