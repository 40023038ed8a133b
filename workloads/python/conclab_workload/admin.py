"""The supervisor's admin endpoints (operator/contracts/supervisor.ts), served on their own port by a
ThreadingHTTPServer in the supervisor process:

    GET  /healthz                      200 while the supervisor runs
    GET  /readyz                       200 while every worker serves, else 503
    GET  /stats[?since=SEQ][&detail=1] SupervisorStats (stats.py)
    POST /fault?kind=K&worker=I        202, then the fault goes to worker I only
    POST /flush[?timeoutMillis=T]      200 {flushed: true, workers} once every worker exported its
                                       spans; 504 with what is known at the bound (default 5000)"""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from .config import FAULT_KINDS
from .stats import build_stats

DEFAULT_FLUSH_TIMEOUT_MILLIS = 5000
MAX_FLUSH_TIMEOUT_MILLIS = 120_000


def parse_stats_query(query):
    """(since, detail) from the query string of GET /stats, or an error message."""
    params = urllib.parse.parse_qs(query)
    since_raw = params.get("since", ["0"])[0]
    try:
        since = int(since_raw)
    except ValueError:
        since = -1
    if since < 0:
        return None, f"since={since_raw} is invalid: expected the nextSeq of an earlier answer (0 or more)"
    detail_raw = params.get("detail", ["0"])[0]
    if detail_raw not in ("0", "1", "true", "false"):
        return None, f"detail={detail_raw} is invalid: expected 1 or 0"
    return (since, detail_raw in ("1", "true")), None


def parse_flush_query(query):
    """The bound of POST /flush in ms, or an error message."""
    raw = urllib.parse.parse_qs(query).get("timeoutMillis", [str(DEFAULT_FLUSH_TIMEOUT_MILLIS)])[0]
    try:
        millis = int(raw)
    except ValueError:
        millis = -1
    if not 1 <= millis <= MAX_FLUSH_TIMEOUT_MILLIS:
        return None, f"timeoutMillis={raw} is invalid: expected a whole number of ms from 1 to {MAX_FLUSH_TIMEOUT_MILLIS}"
    return millis, None


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
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/healthz":
                return self.answer(200, {"status": "ok", "pid": supervisor.pid})
            if url.path == "/readyz":
                now = time.monotonic()
                serving = sum(1 for s in supervisor.slots if supervisor.serving(s, now))
                ready = supervisor.is_ready()
                return self.answer(200 if ready else 503, {"ready": ready, "serving": serving, "workers": len(supervisor.slots)})
            if url.path == "/stats":
                parsed, error = parse_stats_query(url.query)
                if error is not None:
                    return self.answer(400, {"error": error})
                return self.answer(200, build_stats(supervisor, *parsed))
            if url.path == "/fault":
                return self.answer(405, {"error": "use POST /fault?kind=K&worker=I"})
            if url.path == "/flush":
                return self.answer(405, {"error": "use POST /flush[?timeoutMillis=N]"})
            return self.not_found("GET", url.path)

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            if length > 0:
                self.rfile.read(min(length, 65536))
            if url.path == "/flush":
                return self.flush(url.query)
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
            supervisor.accept_fault(kind, worker)

            # 202 goes out first: an abort under the thread model ends this very process.
            def after():
                timer = threading.Timer(0.02, supervisor.inject_fault, (kind, worker))
                timer.daemon = True
                timer.start()

            return self.answer(202, {"accepted": True, "kind": kind, "worker": worker}, after)

        def flush(self, query):
            millis, error = parse_flush_query(query)
            if error is not None:
                return self.answer(400, {"error": error})
            targets, done, failed, pending = supervisor.flush(millis / 1000)
            if len(done) == len(targets):
                return self.answer(200, {"flushed": True, "workers": len(targets)})
            late = ", ".join(map(str, pending))
            error = (
                f"workers {late} did not flush within {millis} ms"
                if pending
                else f"workers {', '.join(map(str, failed))} could not export their spans (or ended)"
            )
            body = {"flushed": False, "workers": len(targets), "done": done, "failed": failed, "pending": pending}
            return self.answer(504, {**body, "error": error})

        def not_found(self, method, path):
            return self.answer(
                404, {"error": f"no admin endpoint {method} {path}; try GET /healthz, /readyz, /stats or POST /fault, /flush"}
            )

    return AdminHandler
