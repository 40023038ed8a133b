"""The supervisor's admin endpoints (GET /healthz, /readyz, /stats; POST /fault), served on their own
port by a ThreadingHTTPServer in the supervisor process."""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from .config import FAULT_KINDS


def make_admin_handler(supervisor):
    class AdminHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass  # stdout carries JSON lines only

        def answer(self, status, body, after=None):
            text = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            self.wfile.flush()
            if after is not None:
                after()

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path == "/healthz":
                return self.answer(200, {"status": "ok", "pid": supervisor.pid})
            if path == "/readyz":
                now = time.monotonic()
                serving = sum(1 for s in supervisor.slots if supervisor.serving(s, now))
                ready = supervisor.is_ready()
                return self.answer(200 if ready else 503, {"ready": ready, "serving": serving, "workers": len(supervisor.slots)})
            if path == "/stats":
                return self.answer(200, supervisor.stats())
            if path == "/fault":
                return self.answer(405, {"error": "use POST /fault?kind=K&worker=I"})
            return self.not_found("GET", path)

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            if length > 0:
                self.rfile.read(min(length, 65536))
            if url.path != "/fault":
                return self.not_found("POST", url.path)
            query = urllib.parse.parse_qs(url.query)
            kind = query.get("kind", [""])[0]
            worker_raw = query.get("worker", ["0"])[0]
            if kind not in FAULT_KINDS:
                return self.answer(400, {"error": f"kind={json.dumps(kind)} is invalid: expected one of {', '.join(FAULT_KINDS)}"})
            try:
                worker = int(worker_raw)
            except ValueError:
                worker = -1
            if worker < 0 or worker >= len(supervisor.slots):
                return self.answer(400, {"error": f"worker={worker_raw} is invalid: expected an index from 0 to {len(supervisor.slots) - 1}"})
            if not supervisor.slots[worker].alive:
                return self.answer(409, {"error": f"worker {worker} is not running"})

            # 202 goes out first: an abort under the thread model ends this very process.
            def after():
                timer = threading.Timer(0.02, supervisor.inject_fault, (kind, worker))
                timer.daemon = True
                timer.start()

            return self.answer(202, {"accepted": True, "kind": kind, "worker": worker}, after)

        def not_found(self, method, path):
            return self.answer(404, {"error": f"no admin endpoint {method} {path}; try GET /healthz, /readyz, /stats or POST /fault"})

    return AdminHandler
