"""The next hop of sam-mail's tests: aiosmtpd (not ours), on 127.0.0.1.

  next_hop.py PORT OUT_DIR [CERT_PEM KEY_PEM]

With a certificate and key it offers STARTTLS and requires it.

Each message goes to OUT_DIR/<n>.eml (the bytes as received, CRLF) with
OUT_DIR/<n>.json (mail_from, rcpt_tos, mail_options), written atomically.
Recipients with local part "tempfail" get 451 for ever, "refuse" 550.
Runs until killed.
"""
import asyncio
import itertools
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller

counter = itertools.count()


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "tempfail":
            return "451 4.3.0 try again later"
        if local == "refuse":
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        base = os.path.join(self.out, "%d-%d" % (os.getpid(), n))
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "tls": bool(session.ssl),
        }
        for ext, data in ((".eml", envelope.original_content), (".json", json.dumps(meta).encode())):
            with open(base + ext + ".tmp", "wb") as f:
                f.write(data)
            os.rename(base + ext + ".tmp", base + ext)
        return "250 2.0.0 stored"


async def main(port, out, cert=None, key=None):
    tls = {}
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        tls = {"tls_context": ctx, "require_starttls": True}
    controller = Controller(Handler(out), hostname="127.0.0.1", port=int(port),
                            decode_data=False, data_size_limit=50 * 1024 * 1024, **tls)
    controller.start()
    print("ready", flush=True)
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
