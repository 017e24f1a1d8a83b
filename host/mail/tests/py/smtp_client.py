"""SMTP client side of sam-mail's tests: Python's smtplib (not ours).

  smtp_client.py probe HOST PORT CA_PEM   -> JSON of reply codes
  smtp_client.py send HOST PORT FROM TO[,TO] FILE [--starttls CA_PEM] [--8bit]
                                          -> JSON {"code": ..., "reply": ...}
  smtp_client.py stream HOST PORT FROM TO DIR N
      sends up to N messages, one per connection, until DIR/stop exists;
      a refused connection waits 20 ms (each attempt is a new message
      with its own Message-ID); writes DIR/accepted.txt, one Message-ID a
      line, for every message answered 250 (fsync'd before the next).
"""
import json
import os
import smtplib
import socket
import ssl
import sys


def code(reply):
    return reply[0]


def probe(host, port, ca):
    out = {}
    s = smtplib.SMTP(host, int(port), timeout=30)
    out["mail_before_ehlo"] = code(s.docmd("MAIL", "FROM:<a@example.org>"))
    s.ehlo("probe.example")
    out["features"] = sorted(s.esmtp_features.keys())
    out["size"] = s.esmtp_features.get("size")
    out["rcpt_before_mail"] = code(s.docmd("RCPT", "TO:<b@example.net>"))
    out["data_before_mail"] = code(s.docmd("DATA"))
    out["unknown_command"] = code(s.docmd("FROB"))
    out["mail_too_big"] = code(s.docmd("MAIL", "FROM:<a@example.org> SIZE=999999999"))
    out["mail_bad_param"] = code(s.docmd("MAIL", "FROM:<a@example.org> FOO=1"))
    out["mail"] = code(s.docmd("MAIL", "FROM:<a@example.org> SIZE=100 BODY=8BITMIME"))
    out["nested_mail"] = code(s.docmd("MAIL", "FROM:<a@example.org>"))
    out["data_before_rcpt"] = code(s.docmd("DATA"))
    out["rcpt_foreign_domain"] = code(s.docmd("RCPT", "TO:<x@elsewhere.test>"))
    out["rcpt"] = code(s.docmd("RCPT", "TO:<b@example.net>"))
    out["starttls_in_transaction"] = code(s.docmd("STARTTLS"))
    out["rset"] = code(s.docmd("RSET"))
    out["noop"] = code(s.docmd("NOOP"))
    out["long_line"] = code(s.docmd("NOOP", "x" * 5000))
    # Over SIZE without announcing it: the relay reads to the dot and says 552.
    s.docmd("MAIL", "FROM:<a@example.org>")
    s.docmd("RCPT", "TO:<b@example.net>")
    s.docmd("DATA")
    line = b"y" * 998 + b"\r\n"
    big = int(out["size"]) // len(line) + 2
    s.send(line * big + b".\r\n")
    out["data_over_size"] = code(s.getreply())
    # Exactly SIZE bytes: accepted (the relay's own Received field does
    # not count).
    s.docmd("MAIL", "FROM:<a@example.org>")
    s.docmd("RCPT", "TO:<b@example.net>")
    s.docmd("DATA")
    exact = int(out["size"]) // len(line)
    assert exact * len(line) == int(out["size"]), "choose a SIZE that is a multiple of 1000"
    s.send(line * exact + b".\r\n")
    out["data_exactly_size"] = code(s.getreply())
    out["quit"] = code(s.docmd("QUIT"))
    s.close()
    # STARTTLS with the relay's certificate checked against the CA.
    s = smtplib.SMTP(host, int(port), timeout=30)
    s.ehlo("probe.example")
    ctx = ssl.create_default_context(cafile=ca)
    out["starttls"] = code(s.starttls(context=ctx))
    s.ehlo("probe.example")
    out["features_after_tls"] = sorted(s.esmtp_features.keys())
    out["tls_version"] = s.sock.version()
    s.quit()
    print(json.dumps(out))


def send(host, port, sender, to, path, starttls=None, eight_bit=False):
    with open(path, "rb") as f:
        msg = f.read()
    s = smtplib.SMTP(host, int(port), timeout=60)
    s.ehlo("client.example")
    if starttls:
        s.starttls(context=ssl.create_default_context(cafile=starttls))
        s.ehlo("client.example")
    opts = ["BODY=8BITMIME"] if eight_bit else []
    try:
        s.sendmail(sender, to.split(","), msg, mail_options=opts)
        res = {"code": 250, "reply": ""}
    except smtplib.SMTPDataError as e:
        res = {"code": e.smtp_code, "reply": e.smtp_error.decode(errors="replace")}
    except smtplib.SMTPSenderRefused as e:
        res = {"code": e.smtp_code, "reply": e.smtp_error.decode(errors="replace")}
    except smtplib.SMTPRecipientsRefused as e:
        c, r = list(e.recipients.values())[0]
        res = {"code": c, "reply": r.decode(errors="replace")}
    try:
        s.quit()
    except smtplib.SMTPException:
        pass
    print(json.dumps(res))


def stream(host, port, sender, to, out_dir, n):
    accepted = open(os.path.join(out_dir, "accepted.txt"), "a")
    import time
    for i in range(int(n)):
        if os.path.exists(os.path.join(out_dir, "stop")):
            break
        mid = "<stream-%d-%d@example.org>" % (os.getpid(), i)
        msg = ("From: %s\r\nTo: %s\r\nSubject: stream %d\r\nMessage-ID: %s\r\n"
               "Content-Type: text/plain\r\n\r\nmessage %d\r\n" % (sender, to, i, mid, i))
        try:
            s = smtplib.SMTP(host, int(port), timeout=10)
            s.sendmail(sender, [to], msg.encode())
        except (OSError, smtplib.SMTPException):
            time.sleep(0.02)
            continue
        accepted.write(mid + "\n")
        accepted.flush()
        os.fsync(accepted.fileno())
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass


def bench(host, port, sender, to, n, clients):
    """n messages over `clients` concurrent connections (threads)."""
    import threading
    import time
    n, clients = int(n), int(clients)
    errors = []

    def worker(k):
        try:
            s = smtplib.SMTP(host, int(port), timeout=120)
            for j, i in enumerate(range(k, n, clients)):
                if j and j % 100 == 0:  # within the relay's smtp.max_commands
                    s.quit()
                    s = smtplib.SMTP(host, int(port), timeout=120)
                msg = ("From: %s\r\nTo: %s\r\nSubject: bench %d\r\nMessage-ID: <bench-%d@example.org>\r\n"
                       "Content-Type: text/plain\r\n\r\n%s\r\n" % (sender, to, i, i, "x" * 998))
                s.sendmail(sender, [to], msg.encode())
            s.quit()
        except Exception as e:  # noqa: BLE001 - reported to the test
            errors.append(repr(e))

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"sent": n, "secs": time.monotonic() - start, "errors": errors}))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "probe":
        probe(*a[1:4])
    elif a[0] == "send":
        rest = a[6:]
        ca = rest[rest.index("--starttls") + 1] if "--starttls" in rest else None
        send(*a[1:6], starttls=ca, eight_bit="--8bit" in rest)
    elif a[0] == "bench":
        bench(*a[1:7])
    elif a[0] == "stream":
        stream(*a[1:7])
    else:
        sys.exit("unknown mode")
