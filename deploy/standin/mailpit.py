#!/usr/bin/env python3
"""Stand-in for the `axllent/mailpit` image, for machines that reach no image registry.

It keeps the part of Mailpit that deploy/compose.yaml and deploy/verify.sh use: SMTP on :1025
(every message kept, in memory), and on :8025 `GET /readyz`, `GET /api/v1/messages` (newest first,
each with ID, From, To, Subject, Created) and `GET /api/v1/message/<ID>/raw`; `mailpit readyz`
is the healthcheck command.
"""
import asyncio
import email
import email.policy
import email.utils
import json
import sys
import threading
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES = []  # (summary, raw bytes), oldest first
LOCK = threading.Lock()


def addresses(value):
    return [{"Name": n, "Address": a} for n, a in email.utils.getaddresses([value or ""]) if a]


class Capture:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        summary = {
            "ID": uuid.uuid4().hex,
            "MessageID": (msg.get("Message-ID") or "").strip("<>"),
            "From": (addresses(msg.get("From")) or [{"Name": "", "Address": envelope.mail_from}])[0],
            "To": addresses(msg.get("To")) or [{"Name": "", "Address": a} for a in envelope.rcpt_tos],
            "Subject": str(msg.get("Subject") or ""),
            "Created": datetime.now(timezone.utc).isoformat(),
        }
        with LOCK:
            MESSAGES.append((summary, raw))
        return "250 Message accepted for delivery"


class Api(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, kind="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        with LOCK:
            kept = list(MESSAGES)
        if path in ("/readyz", "/livez"):
            return self.send(200, b"ok", "text/plain")
        if path == "/api/v1/messages":
            listed = [s for s, _ in reversed(kept)]
            return self.send(200, {"total": len(listed), "count": len(listed), "messages": listed})
        parts = path.split("/")
        if len(parts) == 6 and parts[1:4] == ["api", "v1", "message"] and parts[5] == "raw":
            for summary, raw in kept:
                if summary["ID"] == parts[4]:
                    return self.send(200, raw, "message/rfc822")
        return self.send(404, {"error": "not found"})


def serve():
    from aiosmtpd.controller import Controller

    controller = Controller(Capture(), hostname="0.0.0.0", port=1025, data_size_limit=10 * 1024 * 1024)
    controller.start()
    print("SMTP on :1025, API on :8025", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] == ["readyz"]:
        try:
            urllib.request.urlopen("http://127.0.0.1:8025/readyz", timeout=3)
        except OSError as e:
            sys.exit(f"not ready: {e}")
        sys.exit(0)
    serve()
