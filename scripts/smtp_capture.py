#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) that keeps every accepted message as a file.

    python3 scripts/smtp_capture.py --port 2525 --dir /tmp/mail [--tls-cert C --tls-key K]

Each accepted message is written atomically to DIR/NNNNNN.eml. For fault
tests, the file DIR/mode (re-read on every message) switches behaviour:
  ok          accept (default)
  4xx         answer 451 to MAIL FROM (transient)
  5xx         answer 550 to RCPT TO (permanent)
  5xx:ADDR    answer 550 to RCPT TO for ADDR only
  slow:SECS   store the message, then wait SECS before the final reply to DATA
  cut         store the message, then reset the connection without a final reply
              (a relay that restarts between storing and replying)
  stall-rcpt:SECS  wait SECS before answering RCPT TO (a sender caught mid-send)
Prints "READY <port>" on stdout once listening.
"""
import argparse
import asyncio
import itertools
import os
import sys
import time

from aiosmtpd.controller import Controller

counter = itertools.count(1)


def mode(directory):
    try:
        with open(os.path.join(directory, "mode")) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return "ok"


class Capture:
    def __init__(self, directory):
        self.directory = directory

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if mode(self.directory) == "4xx":
            return "451 4.3.0 try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        m = mode(self.directory)
        if m.startswith("stall-rcpt:"):
            await asyncio.sleep(float(m[len("stall-rcpt:"):]))
        if m == "5xx" or (m.startswith("5xx:") and m[4:] == address):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        m = mode(self.directory)
        n = next(counter)
        name = f"{int(time.time() * 1000):013d}-{os.getpid()}-{n:06d}"
        tmp = os.path.join(self.directory, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(f"X-Rcpt-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(f"X-Received-At: {time.time():.3f}\r\n".encode())
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.directory, f"{name}.eml"))
        if m == "cut":
            # Stored, and the client never hears so: an RST instead of "250".
            server.transport.abort()
            return "421 4.3.0 never sent"
        # A slow reply to a message already stored: the client cannot know it arrived.
        if m.startswith("slow:"):
            await asyncio.sleep(float(m[5:]))
        return "250 OK queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2525)
    p.add_argument("--dir", required=True)
    p.add_argument("--tls-cert", help="serve implicit TLS (smtps) with this PEM certificate")
    p.add_argument("--tls-key", help="... and this PEM key")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    extra = {}
    if a.tls_cert:
        import ssl
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.tls_cert, a.tls_key)
        extra["ssl_context"] = context
    controller = Controller(Capture(a.dir), hostname=a.host, port=a.port,
                            data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=True, **extra)
    controller.start()
    print(f"READY {a.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
