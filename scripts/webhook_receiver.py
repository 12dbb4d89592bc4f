#!/usr/bin/env python3
"""A webhook receiver for the tests: verifies each request's signature with the
Standard Webhooks reference library (`standardwebhooks` on PyPI) and appends
what it received to a JSON-lines file.

    webhook_receiver.py PORT LOG_FILE [ok|slow]

The signing secret (`whsec_...`) is read from WEBHOOK_SECRET. `ok` answers 204
to a request whose signature verifies and 400 to one that does not; `slow`
records the request and then never answers (until the client gives up).
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, LOG, MODE = int(sys.argv[1]), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "ok")
VERIFIER = Webhook(os.environ["WEBHOOK_SECRET"])
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode("utf-8")
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            VERIFIER.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        line = {
            "webhook_id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "content_type": headers.get("content-type"),
            "body": body,
            "verified": verified,
            "received_at": time.time(),
        }
        with LOCK, open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        if MODE == "slow":
            time.sleep(3600)
            return
        self.send_response(204 if verified else 400)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
SERVER = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("READY", flush=True)
SERVER.serve_forever()
