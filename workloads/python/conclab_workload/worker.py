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
from .messages import ControlChannel, write_message, write_message_waiting
from .shared_state import ProcessSharedState
from .tracing import RequestTracer, span_attributes
from .work import WorkPlan

HEARTBEAT_SECONDS = 0.25
MAX_REQUEST_HEAD_BYTES = 65536
STATE_REPLY_TIMEOUT_SECONDS = 10.0


class WorkerContext:
    """What one worker (process, thread or pool thread) keeps per request: who it is, its response
    head, its span attributes and its counters."""

    def __init__(self, handler, identity):
        self.identity = identity
        self.head = handler.headers_for(identity)
        self.attributes = None if handler.tracer is None else span_attributes(handler.tracer.config, identity)
        self.requests = 0
        self.errors = 0


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

    def serve(self, conn, context, arrival_ns):
        """Returns after the response is written."""
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
        context.requests += 1
        span = None
        if self.tracer is not None:
            traceparent = tracestate = None
            for line in head[1:]:
                name = line[:12].lower()
                if name == "traceparent:":
                    traceparent = line[12:].strip()
                elif name[:11] == "tracestate:":
                    tracestate = line[11:].strip()
            span = self.tracer.start(traceparent, tracestate, arrival_ns, context.attributes)
        cost = None
        try:
            cost = self.plan.perform(context.requests)
            status = 200
        except Exception:  # noqa: BLE001 - a failed request is a 500, not a dead worker
            status = 500
        if span is not None:
            self.tracer.end(span, status, cost)
        if status == 200:
            conn.sendall(context.head + self.body)
        else:
            context.errors += 1
            conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nwork failed\n")


def serve_connection(handler, conn, context, arrival_ns=None):
    if arrival_ns is None:
        arrival_ns = time.time_ns()
    try:
        handler.serve(conn, context, arrival_ns)
    except OSError:
        pass  # the client went away; nothing to answer
    finally:
        try:
            conn.close()
        except OSError:
            pass


def serving_loop(handler, listener, control, context, report, stop_flag, on_flush=None):
    """Accepts on the shared listening socket and serves one connection at a time until told to
    stop. Heartbeats come from this very loop, so a hung worker stops beating (readiness drops).
    control carries fault kinds, "flush ID" and "shutdown" from the supervisor, one per line."""
    state = {"leaking": False}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(control.fd, selectors.EVENT_READ, "ctrl")
    identity = context.identity
    report({"type": "listening", "pid": identity["pid"], "threadId": identity["threadId"]})
    last_beat = time.monotonic()

    def beat():
        report({"type": "heartbeat", "requests": context.requests, "errors": context.errors})

    try:
        while not stop_flag():
            # Commands may have been read while a request waited for a shared-state reply.
            while control.pending:
                command = control.pending.popleft()
                if command == "shutdown":
                    return
                if command.startswith("flush "):
                    if on_flush is not None:
                        on_flush(command[6:])
                elif not command.startswith("state "):  # a late reply is dropped
                    fire_fault(command, state)
            if control.closed:
                return  # the supervisor is gone
            for key, _ in selector.select(0.01 if state["leaking"] else HEARTBEAT_SECONDS):
                if key.data == "ctrl":
                    control.fill()
                    continue
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue  # another worker took it
                conn.setblocking(True)
                serve_connection(handler, conn, context)
            if state["leaking"]:
                Leak.step()
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                beat()
    finally:
        beat()
        selector.close()


# ---- worker processes --------------------------------------------------------------------------


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
        config = supervisor.config
        if config["workerHeapMb"] is not None:
            limit_address_space(config["workerHeapMb"])
        control = ControlChannel(ctrl_r)
        supervisor_pid = supervisor.pid

        def report(message):
            if os.getppid() != supervisor_pid:
                os._exit(0)
            write_message(report_w, message)

        def ask(message):
            if not write_message_waiting(report_w, message, STATE_REPLY_TIMEOUT_SECONDS):
                raise TimeoutError("the supervisor does not read its pipe")
            return control.wait_reply("state ", STATE_REPLY_TIMEOUT_SECONDS)

        shared = None
        if config["profile"] == "shared-state":
            shared = ProcessSharedState(lambda message: int(ask(message)), config["racy"])
        tracer = RequestTracer(config) if supervisor.traced else None
        handler = Handler(config, supervisor.iterations_per_milli, shared, tracer)
        context = WorkerContext(handler, {"worker": slot.index, "pid": os.getpid(), "threadId": 0})

        def on_flush(flush_id):
            ok = tracer.flush() if tracer is not None else True
            report({"type": "flushed", "id": flush_id, "ok": ok})

        serving_loop(handler, supervisor.listener, control, context, report, lambda: stopping["flag"], on_flush)
        if tracer is not None:
            tracer.shutdown()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - an uncaught exception ends this worker process, code 1
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)
