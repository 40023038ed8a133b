"""A worker: the accept-and-serve loop on the shared listening socket (process and thread models),
the request handler every model shares (the offload pool runs it too), and the entry of a forked
worker process."""

import ctypes
import os
import resource
import selectors
import signal
import time
import traceback

from .faults import Leak, fire_fault
from .messages import write_message
from .tracing import RequestTracer
from .work import WorkPlan

HEARTBEAT_SECONDS = 0.25
MAX_REQUEST_HEAD_BYTES = 65536


class Handler:
    """Parses one HTTP/1.x request from a connection, does the work, answers, closes (no keep-alive:
    a sync worker or a bounded pool thread must not sit on an idle connection; gunicorn sync does
    the same)."""

    def __init__(self, config, iterations_per_milli, shared, tracer):
        self.plan = WorkPlan(config, iterations_per_milli, shared)
        self.body = b"x" * config["responseBytes"]
        self.tracer = tracer

    def headers_for(self, identity):
        return (
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
            f"content-length: {len(self.body)}\r\nx-conclab-worker: {identity['worker']}\r\n"
            f"x-conclab-pid: {identity['pid']}\r\nx-conclab-thread: {identity['threadId']}\r\n"
            "connection: close\r\n\r\n"
        ).encode()

    def serve(self, conn, identity, head_bytes, counters, arrival_ns):
        """Returns after the response is written. counters: dict with requests, errors."""
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
            if len(data) > MAX_REQUEST_HEAD_BYTES:
                conn.sendall(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        parts = head[0].split(" ")
        if len(parts) != 3:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            return
        path = parts[1].split("?", 1)[0]
        if path == "/healthz":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
            return
        counters["requests"] += 1
        span = None
        if self.tracer is not None:
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            span = self.tracer.start(headers, arrival_ns, identity)
        try:
            self.plan.perform(counters["requests"])
            status = 200
        except Exception:  # noqa: BLE001 - a failed request is a 500, not a dead worker
            status = 500
        if span is not None:
            self.tracer.end(span, status)
        if status == 200:
            conn.sendall(head_bytes + self.body)
        else:
            counters["errors"] += 1
            conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nwork failed\n")


def serve_connection(handler, conn, identity, head_bytes, counters):
    arrival_ns = time.time_ns()
    try:
        handler.serve(conn, identity, head_bytes, counters, arrival_ns)
    except OSError:
        pass  # the client went away; nothing to answer
    finally:
        try:
            conn.close()
        except OSError:
            pass


def serving_loop(handler, listener, ctrl_fd, identity, report, stop_flag):
    """Accepts on the shared listening socket and serves one connection at a time until told to
    stop. Heartbeats come from this very loop, so a hung worker stops beating (readiness drops).
    ctrl_fd carries fault kinds and "shutdown" from the supervisor, one per line."""
    counters = {"requests": 0, "errors": 0}
    state = {"leaking": False}
    head_bytes = handler.headers_for(identity)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(ctrl_fd, selectors.EVENT_READ, "ctrl")
    report({"type": "listening", "pid": identity["pid"], "threadId": identity["threadId"]})
    last_beat = time.monotonic()
    pending = b""
    try:
        while not stop_flag():
            for key, _ in selector.select(0.01 if state["leaking"] else HEARTBEAT_SECONDS):
                if key.data == "ctrl":
                    chunk = os.read(ctrl_fd, 4096)
                    if not chunk:
                        return  # the supervisor is gone
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        command = line.decode()
                        if command == "shutdown":
                            return
                        fire_fault(command, state)
                    continue
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue  # another worker took it
                conn.setblocking(True)
                serve_connection(handler, conn, identity, head_bytes, counters)
            if state["leaking"]:
                Leak.step()
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                report({"type": "heartbeat", "requests": counters["requests"], "errors": counters["errors"]})
    finally:
        report({"type": "heartbeat", "requests": counters["requests"], "errors": counters["errors"]})
        selector.close()


def die_with_parent(supervisor_pid):
    """PR_SET_PDEATHSIG: the kernel kills this worker when the supervisor dies, even by SIGKILL and
    even while the worker is hung. Without prctl the loop's os.getppid() check is the fallback."""
    try:
        # dlopen(NULL): the symbols already loaded, libc's prctl among them (no library search).
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != supervisor_pid:
        os._exit(0)  # the supervisor died before prctl took effect


def limit_address_space(heap_mb):
    """CONCLAB_WORKER_HEAP_MB for a worker process: RLIMIT_AS over what the process maps now, so a
    leak ends this worker with MemoryError instead of growing until the cgroup kills something."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    base = int(line.split()[1]) * 1024
                    limit = base + heap_mb * 1024 * 1024
                    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):
        pass


def run_worker_process(supervisor, slot, report_w, ctrl_r):
    """The forked child. Never returns: it ends with os._exit."""
    code = 0
    try:
        die_with_parent(supervisor.pid)
        signal.set_wakeup_fd(-1)
        for fd in supervisor.fds_to_close_in_child():
            try:
                os.close(fd)
            except OSError:
                pass
        stopping = {"flag": False}

        def on_term(_signum, _frame):
            # SIGTERM to the whole group reaches workers directly: finish the request in hand, stop.
            stopping["flag"] = True
            write_message(report_w, {"type": "stopping"})

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if supervisor.config["workerHeapMb"] is not None:
            limit_address_space(supervisor.config["workerHeapMb"])
        tracer = RequestTracer(supervisor.config) if supervisor.traced else None
        handler = Handler(supervisor.config, supervisor.iterations_per_milli, supervisor.shared, tracer)
        identity = {"worker": slot.index, "pid": os.getpid(), "threadId": 0}
        supervisor_pid = supervisor.pid

        def report(message):
            if os.getppid() != supervisor_pid:
                os._exit(0)
            write_message(report_w, message)

        serving_loop(handler, supervisor.listener, ctrl_r, identity, report, lambda: stopping["flag"])
        if tracer is not None:
            tracer.shutdown()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - an uncaught exception ends this worker process, code 1
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)
