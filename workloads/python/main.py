#!/usr/bin/env python3
"""conclab's Python workload: the same handler served as N pre-forked processes, N threads, or one
acceptor with a pool of N threads, configured only by environment variables (README.md has the
table; it is the Node workload's contract). Standard library only; CPython 3.11 or later.

    CONCLAB_MODEL=thread CONCLAB_WORKERS=4 CONCLAB_PORT=0 CONCLAB_ADMIN_PORT=0 python3 workloads/python/main.py
"""

import collections
import concurrent.futures
import ctypes
import itertools
import json
import math
import mmap
import multiprocessing
import os
import queue
import resource
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# CPython 3.12+ warns on fork() while other threads run (here: the admin server). The forked worker
# touches no lock another thread could hold: it logs with os.write, never through sys.stdout.
warnings.filterwarnings("ignore", message=r"This process .* is multi-threaded", category=DeprecationWarning)

MODELS = ("process", "thread", "offload")
PROFILES = ("cpu", "io", "mixed", "shared-state")
FAULT_KINDS = ("exit", "abort", "throw", "hang", "leak")
HEARTBEAT_SECONDS = 0.25
HEARTBEAT_STALE_SECONDS = 2.0
STARTUP_TIMEOUT_SECONDS = 30.0
MAX_REQUEST_HEAD_BYTES = 65536
MAX_OFFLOAD_QUEUE = 100_000
LEAK_CHUNK_BYTES = 1 << 20
LEAK_CHUNKS_PER_STEP = 16


# ---- configuration ----------------------------------------------------------------------------


class ConfigError(Exception):
    pass


def parse_config(env):
    """Pure: the whole configuration from an environment mapping, or one error naming every bad variable."""
    problems = []

    def bad(name, raw, expected):
        problems.append(f"{name}={json.dumps(raw)} is invalid: expected {expected}")

    def one_of(name, values, fallback):
        raw = env.get(name, "")
        if raw == "":
            return fallback
        if raw in values:
            return raw
        bad(name, raw, "one of " + ", ".join(values))
        return fallback

    def number(name, fallback, lo, hi, integer):
        raw = env.get(name, "")
        if raw == "":
            return fallback
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < lo or value > hi or (integer and not value.is_integer()):
            bad(name, raw, f"{'an integer' if integer else 'a number'} from {lo} to {hi}")
            return fallback
        return int(value) if integer else value

    def boolean(name, fallback):
        raw = env.get(name, "")
        if raw == "":
            return fallback
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        bad(name, raw, "true or false")
        return fallback

    otlp_raw = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    otlp = None
    if otlp_raw != "":
        parsed = urllib.parse.urlparse(otlp_raw)
        if parsed.scheme in ("http", "https") and parsed.netloc:
            otlp = otlp_raw.rstrip("/")
        else:
            bad("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_raw, "an http(s) base URL such as http://127.0.0.1:4318")
    workers = number("CONCLAB_WORKERS", 4, 1, 256, True)
    fault_raw = env.get("CONCLAB_FAULT_KIND", "")
    fault_kind = None if fault_raw in ("", "none") else one_of("CONCLAB_FAULT_KIND", FAULT_KINDS, "exit")
    fault_worker = number("CONCLAB_FAULT_WORKER", 0, 0, 255, True)
    if fault_kind is not None and fault_worker >= workers:
        problems.append(
            f"CONCLAB_FAULT_WORKER={fault_worker} is out of range: there are {workers} workers "
            f"(indices 0 to {workers - 1})"
        )
    heap_raw = env.get("CONCLAB_WORKER_HEAP_MB", "")
    rate_raw = env.get("CONCLAB_CPU_ITERATIONS_PER_MILLI", "")
    config = {
        "model": one_of("CONCLAB_MODEL", MODELS, "process"),
        "workers": workers,
        "host": env.get("CONCLAB_HOST") or "127.0.0.1",
        "port": number("CONCLAB_PORT", 8080, 0, 65535, True),
        "adminPort": number("CONCLAB_ADMIN_PORT", 8081, 0, 65535, True),
        "profile": one_of("CONCLAB_PROFILE", PROFILES, "cpu"),
        "cpuMillis": number("CONCLAB_CPU_MILLIS", 5, 0, 60_000, False),
        "ioMillis": number("CONCLAB_IO_MILLIS", 0, 0, 600_000, False),
        "responseBytes": number("CONCLAB_RESPONSE_BYTES", 256, 0, 16_777_216, True),
        "replaceWorkers": boolean("CONCLAB_REPLACE_WORKERS", True),
        "racy": boolean("CONCLAB_RACY", False),
        "experiment": env.get("CONCLAB_EXPERIMENT", ""),
        "variant": env.get("CONCLAB_VARIANT", ""),
        "trial": env.get("CONCLAB_TRIAL", ""),
        "tracing": boolean("CONCLAB_TRACING", otlp is not None),
        "otlpEndpoint": otlp,
        "traceSampleRatio": number("CONCLAB_TRACE_SAMPLE_RATIO", 0.1, 0, 1, False),
        "fault": None
        if fault_kind is None
        else {
            "kind": fault_kind,
            "worker": fault_worker,
            "afterMillis": number("CONCLAB_FAULT_AFTER_MILLIS", 0, 0, 86_400_000, False),
        },
        "shutdownTimeoutMillis": number("CONCLAB_SHUTDOWN_TIMEOUT_MILLIS", 10_000, 0, 3_600_000, False),
        "workerHeapMb": None if heap_raw == "" else number("CONCLAB_WORKER_HEAP_MB", 0, 16, 65536, True),
        "cpuIterationsPerMilli": None
        if rate_raw == ""
        else number("CONCLAB_CPU_ITERATIONS_PER_MILLI", 0, 1, 1e12, False),
        "exitWithStdin": boolean("CONCLAB_EXIT_WITH_STDIN", False),
    }
    if config["tracing"] and otlp is None and otlp_raw == "":
        problems.append(
            "CONCLAB_TRACING=true needs OTEL_EXPORTER_OTLP_ENDPOINT (the OTLP/HTTP base URL); "
            "set it or set CONCLAB_TRACING=false"
        )
    if config["port"] != 0 and config["port"] == config["adminPort"]:
        problems.append(
            f"CONCLAB_PORT and CONCLAB_ADMIN_PORT are both {config['port']}; give them different ports"
        )
    if problems:
        raise ConfigError("conclab workload: bad environment:\n  " + "\n  ".join(problems))
    return config


# ---- logs --------------------------------------------------------------------------------------


def log_event(event, **fields):
    # One os.write per line (below PIPE_BUF): lines of several processes never interleave, and no
    # buffered-stream lock can be inherited locked by a forked worker.
    line = json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n"
    try:
        os.write(1, line.encode())
    except OSError:
        pass


def now_millis():
    return int(time.time() * 1000)


# ---- CPU work ----------------------------------------------------------------------------------
# A fixed amount of computation, never "spin until the wall clock says N ms" (DESIGN.md): under a
# CPU quota the wall clock runs on while the worker is descheduled. Iterations of an xorshift
# kernel, calibrated once to iterations per CPU millisecond of the calling thread.

MASK32 = 0xFFFFFFFF


def burn(iterations, seed):
    x = (seed & MASK32) or 1
    for _ in range(iterations):
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
    return x


def calibrate(rounds=5, round_cpu_millis=40.0):
    """Kernel iterations per CPU millisecond; best of a few rounds, so it reflects an idle core."""
    burn(20_000, 7)
    best = 0.0
    iterations = 10_000
    for rnd in range(rounds):
        for _grow in range(30):
            start = time.thread_time_ns()
            burn(iterations, rnd + 1)
            cpu_millis = (time.thread_time_ns() - start) / 1e6
            if cpu_millis >= round_cpu_millis:
                best = max(best, iterations / cpu_millis)
                break
            iterations = math.ceil(
                iterations * min(8.0, max(1.5, round_cpu_millis * 1.2 / max(cpu_millis, 0.01)))
            )
    if best == 0:
        raise RuntimeError("CPU calibration failed: no round reached the measurable length")
    return best


# ---- shared state --------------------------------------------------------------------------------


class SharedState:
    """attempts and value in anonymous shared memory (inherited by forked workers, so the process
    model shares it through the kernel), guarded by a semaphore lock that works across processes
    and threads alike. Racy: the value is read and written back without the lock."""

    def __init__(self, racy):
        self.racy = racy
        self.memory = mmap.mmap(-1, 16)
        self.lock = multiprocessing.Lock()

    def update(self):
        memory = self.memory
        with self.lock:
            attempts, value = struct.unpack_from("qq", memory, 0)
            if self.racy:
                struct.pack_into("q", memory, 0, attempts + 1)
        if self.racy:
            value = struct.unpack_from("q", memory, 8)[0]
            struct.pack_into("q", memory, 8, value + 1)
            return
        with self.lock:
            attempts, value = struct.unpack_from("qq", memory, 0)
            struct.pack_into("qq", memory, 0, attempts + 1, value + 1)

    def read(self):
        attempts, value = struct.unpack_from("qq", self.memory, 0)
        return {"attempts": attempts, "value": value}


# ---- tracing (optional) --------------------------------------------------------------------------


def tracing_problem(config):
    """None when spans can be exported, else why not (logged once; the workload runs untraced)."""
    if not config["tracing"] or config["otlpEndpoint"] is None:
        return "tracing is off (no OTEL_EXPORTER_OTLP_ENDPOINT or CONCLAB_TRACING=false)"
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as error:
        return (
            f"OpenTelemetry is not installed ({error.name}); install opentelemetry-sdk and "
            "opentelemetry-exporter-otlp-proto-http to export spans"
        )
    return None


class RequestTracer:
    """One TracerProvider per serving process (made after fork: the batch thread does not survive it)."""

    def __init__(self, config):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.common = {
            "conclab.experiment": config["experiment"],
            "conclab.variant": config["variant"],
            "conclab.trial": config["trial"],
            "conclab.model": config["model"],
        }
        resource_attributes = {"service.name": "conclab-workload-python", "process.pid": os.getpid(), **self.common}
        self.provider = TracerProvider(
            resource=Resource.create(resource_attributes),
            sampler=ParentBased(TraceIdRatioBased(config["traceSampleRatio"])),
        )
        exporter = OTLPSpanExporter(endpoint=config["otlpEndpoint"] + "/v1/traces")
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=1000, max_queue_size=16384)
        )
        self.tracer = self.provider.get_tracer("conclab-workload-python")
        self.kind = SpanKind.SERVER
        self.propagator = TraceContextTextMapPropagator()

    def start(self, headers, arrival_ns, identity):
        parent = self.propagator.extract(headers)
        span = self.tracer.start_span("GET /work", context=parent, kind=self.kind, start_time=arrival_ns)
        if span.is_recording():
            span.set_attributes(self.common)
            span.set_attribute("conclab.worker", identity["worker"])
            span.set_attribute("process.pid", identity["pid"])
            span.set_attribute("thread.id", identity["threadId"])
            span.set_attribute("conclab.queue_time_ms", max(0.0, (time.time_ns() - arrival_ns) / 1e6))
        return span

    def end(self, span, status):
        if span.is_recording():
            span.set_attribute("http.response.status_code", status)
        span.end()

    def shutdown(self):
        try:
            self.provider.shutdown()
        except Exception:  # noqa: BLE001 - a failing exporter must not block shutdown
            pass


# ---- faults --------------------------------------------------------------------------------------


class Leak:
    hoard = []

    @classmethod
    def step(cls):
        for i in range(LEAK_CHUNKS_PER_STEP):
            # bytes * n writes every page, so the memory is resident, not just reserved.
            cls.hoard.append(bytes([i + 1]) * LEAK_CHUNK_BYTES)


def fire_fault(kind, worker_state):
    if kind == "exit":
        raise SystemExit(70)  # a thread: ends only that thread; a worker process: that process
    if kind == "abort":
        os.abort()  # SIGABRT: always the whole OS process, whichever thread calls it
    if kind == "throw":
        raise RuntimeError("conclab injected fault: uncaught exception")
    if kind == "hang":
        # A C-level loop that never returns to the interpreter, so it never drops the GIL (a Python
        # `while True` would, every switch interval). Under thread/offload every thread of the
        # process stalls, the admin server and signal handlers too: the GIL's blast radius.
        collections.deque(itertools.repeat(0), maxlen=0)
    if kind == "leak":
        worker_state["leaking"] = True


def offload_fault(kind):
    """A fault run as a pool task. exit and throw are caught by the executor (the task fails, the
    thread lives on); leak keeps the pool thread that took it, growing until the limit."""
    if kind != "leak":
        fire_fault(kind, {})
        return
    for _ in range(1_000_000):
        Leak.step()
        time.sleep(0.01)


# ---- one request ---------------------------------------------------------------------------------


class Handler:
    """Parses one HTTP/1.x request from a connection, does the work, answers, closes (no keep-alive:
    a sync worker or a bounded pool thread must not sit on an idle connection; gunicorn sync does
    the same)."""

    def __init__(self, config, iterations_per_milli, shared, tracer):
        profile = config["profile"]
        self.cpu_iterations = 0 if profile == "io" else round(config["cpuMillis"] * iterations_per_milli)
        self.io_seconds = config["ioMillis"] / 1000 if profile in ("io", "mixed") else 0
        self.shared = shared if profile == "shared-state" else None
        self.body = b"x" * config["responseBytes"]
        self.tracer = tracer
        self.checksum = 0

    def headers_for(self, identity):
        return (
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
            f"content-length: {len(self.body)}\r\nx-conclab-worker: {identity['worker']}\r\n"
            f"x-conclab-pid: {identity['pid']}\r\nx-conclab-thread: {identity['threadId']}\r\n"
            "connection: close\r\n\r\n"
        ).encode()

    def work(self, seed):
        result = burn(self.cpu_iterations, seed) if self.cpu_iterations > 0 else seed
        self.checksum ^= result
        if self.shared is not None:
            self.shared.update()
        if self.io_seconds > 0:
            time.sleep(self.io_seconds)
        return result

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
            self.work(counters["requests"])
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


# ---- the serving loop (process and thread models) ------------------------------------------------


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


def write_message(fd, message):
    try:
        os.write(fd, (json.dumps(message, separators=(",", ":")) + "\n").encode())
    except (BlockingIOError, BrokenPipeError, OSError):
        pass  # a full pipe drops a heartbeat; a closed one means the supervisor is gone


# ---- supervisor ------------------------------------------------------------------------------


class Slot:
    def __init__(self, index):
        self.index = index
        self.pid = 0
        self.thread_id = 0
        self.thread = None
        self.alive = False
        self.listening = False
        self.stopping = False
        self.last_beat = 0.0
        self.requests_before = 0
        self.errors_before = 0
        self.requests = 0
        self.errors = 0
        self.started_at = 0
        self.replaced_count = 0
        self.replacing = None
        self.quick_deaths = 0
        self.report_r = -1
        self.ctrl_w = -1
        self.buffer = b""
        self.exit_info = None  # thread model: (code, error) set by the dying thread
        self.respawn_at = None


class Supervisor:
    def __init__(self, config, iterations_per_milli, traced):
        self.config = config
        self.iterations_per_milli = iterations_per_milli
        self.traced = traced
        self.pid = os.getpid()
        self.slots = [Slot(i) for i in range(config["workers"])]
        self.shared = SharedState(config["racy"]) if config["profile"] == "shared-state" else None
        self.ready = False
        self.shutting_down = False
        self.shutdown_request = None
        self.restarts = 0
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.dead_threads = queue.SimpleQueue()
        self.listener = None
        self.admin = None
        self.port = 0
        self.admin_port = 0
        self.pool = None
        self.pool_tasks = 0
        self.pool_lock = threading.Lock()
        self.tracer = None

    # -- helpers

    def wake(self):
        try:
            os.write(self.wake_w, b"!")
        except OSError:
            pass

    def fds_to_close_in_child(self):
        fds = [self.wake_r, self.wake_w, self.selector.fileno(), self.admin.socket.fileno()]
        for slot in self.slots:
            fds += [slot.report_r, slot.ctrl_w]
        return [fd for fd in fds if fd >= 0]

    def serving(self, slot, now):
        if self.config["model"] == "offload":
            return slot.alive
        return slot.alive and slot.listening and now - slot.last_beat < HEARTBEAT_STALE_SECONDS

    def is_ready(self):
        now = time.monotonic()
        return self.ready and not self.shutting_down and all(self.serving(s, now) for s in self.slots)

    def request_shutdown(self, reason, code=0):
        if self.shutdown_request is None:
            self.shutdown_request = (reason, code)
        self.wake()

    # -- start

    def start(self):
        config = self.config
        family = socket.AF_INET6 if ":" in config["host"] else socket.AF_INET
        self.admin = ThreadingHTTPServer((config["host"], config["adminPort"]), make_admin_handler(self))
        self.admin.daemon_threads = True
        self.admin_port = self.admin.server_address[1]
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((config["host"], config["port"]))
        self.listener.listen(1024)
        # Non-blocking: several workers wait on it and the losers of a wake-up must not block.
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.admin.serve_forever, name="admin", daemon=True).start()
        if config["model"] == "offload":
            self.start_offload()
        else:
            for slot in self.slots:
                self.spawn(slot)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not all(s.listening for s in self.slots):
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {STARTUP_TIMEOUT_SECONDS:.0f} s waiting for all workers to start")
            if self.shutdown_request is not None:
                return
            self.tick(0.01)
        self.ready = True
        log_event(
            "ready",
            port=self.port,
            adminPort=self.admin_port,
            pid=self.pid,
            model=config["model"],
            workers=config["workers"],
            cpuIterationsPerMilli=round(self.iterations_per_milli),
        )
        fault = config["fault"]
        if fault is not None:
            timer = threading.Timer(
                fault["afterMillis"] / 1000,
                lambda: None if self.shutting_down else self.inject_fault(fault["kind"], fault["worker"]),
            )
            timer.daemon = True
            timer.start()

    def spawn(self, slot):
        """Starts slot's worker. Always called on the main thread: PR_SET_PDEATHSIG fires when the
        thread that forked exits, so only the main thread may fork."""
        slot.alive = True
        slot.listening = False
        slot.stopping = False
        slot.started_at = now_millis()
        slot.last_beat = time.monotonic()
        slot.requests = 0
        slot.errors = 0
        slot.exit_info = None
        ctrl_r, slot.ctrl_w = os.pipe()
        if self.config["model"] == "process":
            slot.report_r, report_w = os.pipe()
            os.set_blocking(report_w, False)
            slot.buffer = b""
            pid = os.fork()
            if pid == 0:
                run_worker_process(self, slot, report_w, ctrl_r)
            os.close(report_w)
            os.close(ctrl_r)
            slot.pid = pid
            slot.thread_id = 0
            self.selector.register(slot.report_r, selectors.EVENT_READ, slot)
            return
        slot.pid = self.pid
        thread = threading.Thread(target=self.thread_main, args=(slot, ctrl_r), name=f"worker-{slot.index}", daemon=True)
        slot.thread = thread
        thread.start()

    def thread_main(self, slot, ctrl_r):
        code, error = 0, None
        slot.thread_id = threading.get_native_id()
        identity = {"worker": slot.index, "pid": self.pid, "threadId": slot.thread_id}
        handler = Handler(self.config, self.iterations_per_milli, self.shared, self.tracer)
        try:
            serving_loop(handler, self.listener, ctrl_r, identity, lambda m: self.on_message(slot, m), lambda: False)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - ends only this thread, as an uncaught exception does
            traceback.print_exc()
            code, error = 1, f"{type(exc).__name__}: {exc}"
        finally:
            os.close(ctrl_r)
            slot.exit_info = (code, error)
            self.dead_threads.put(slot)
            self.wake()

    # -- main loop (main thread)

    def tick(self, timeout):
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            slot = key.data
            try:
                chunk = os.read(slot.report_r, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.selector.unregister(slot.report_r)
                os.close(slot.report_r)
                slot.report_r = -1
                continue
            slot.buffer += chunk
            while b"\n" in slot.buffer:
                line, slot.buffer = slot.buffer.split(b"\n", 1)
                try:
                    self.on_message(slot, json.loads(line))
                except ValueError:
                    pass
        if self.config["model"] == "process":
            self.reap()
        while not self.dead_threads.empty():
            slot = self.dead_threads.get()
            code, error = slot.exit_info
            self.on_exit(slot, code, None, error)
        now = time.monotonic()
        for slot in self.slots:
            if slot.respawn_at is not None and now >= slot.respawn_at and not self.shutting_down:
                slot.respawn_at = None
                slot.replaced_count += 1
                self.restarts += 1
                self.spawn(slot)

    def reap(self):
        for _ in range(len(self.slots) + 8):
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid and s.alive), None)
            if slot is None:
                continue
            if os.WIFSIGNALED(status):
                self.on_exit(slot, None, signal.Signals(os.WTERMSIG(status)).name, None)
            else:
                self.on_exit(slot, os.WEXITSTATUS(status), None, None)

    def on_message(self, slot, message):
        kind = message.get("type")
        if kind == "heartbeat":
            slot.last_beat = time.monotonic()
            slot.requests = message["requests"]
            slot.errors = message["errors"]
        elif kind == "listening":
            slot.listening = True
            slot.last_beat = time.monotonic()
            if self.config["model"] == "thread":
                message["threadId"] = slot.thread_id
            if slot.replacing is not None:
                log_event(
                    "worker-replaced",
                    worker=slot.index,
                    oldPid=slot.replacing[0],
                    oldThreadId=slot.replacing[1],
                    pid=message["pid"],
                    threadId=message["threadId"],
                    replacedCount=slot.replaced_count,
                    at=now_millis(),
                )
                slot.replacing = None
        elif kind == "stopping":
            slot.stopping = True
            # A worker told to stop by a signal means the whole service is being stopped.
            if not self.shutting_down and self.ready:
                self.request_shutdown("worker-signal")

    def on_exit(self, slot, code, signal_name, error):
        slot.alive = False
        slot.listening = False
        slot.requests_before += slot.requests
        slot.errors_before += slot.errors
        slot.requests = 0
        slot.errors = 0
        if slot.ctrl_w >= 0:
            os.close(slot.ctrl_w)
            slot.ctrl_w = -1
        fields = {"worker": slot.index, "pid": slot.pid, "threadId": slot.thread_id, "code": code, "signal": signal_name}
        if error is not None:
            fields["error"] = error
        log_event("worker-exit", **fields, expected=slot.stopping or self.shutting_down, at=now_millis())
        if self.shutting_down or slot.stopping:
            return
        if not self.ready:
            log_event("error", message=f"worker {slot.index} exited during startup (code {code}, signal {signal_name})")
            self.request_shutdown("startup-failure", 1)
            return
        if not self.config["replaceWorkers"]:
            return
        # Back off when a slot keeps dying right after start, so a crash loop cannot spin the CPU.
        slot.quick_deaths = slot.quick_deaths + 1 if now_millis() - slot.started_at < 2000 else 0
        delay = 0 if slot.quick_deaths == 0 else min(5.0, 0.1 * 2**slot.quick_deaths)
        slot.replacing = (slot.pid, slot.thread_id)
        slot.respawn_at = time.monotonic() + delay

    def inject_fault(self, kind, worker):
        """Sends a fault to exactly one worker; returns an error message when that is impossible."""
        if worker < 0 or worker >= len(self.slots):
            return f"worker {worker} does not exist: indices are 0 to {len(self.slots) - 1}"
        slot = self.slots[worker]
        if not slot.alive:
            return f"worker {worker} is not running"
        log_event("fault", kind=kind, worker=worker, pid=slot.pid, threadId=slot.thread_id, at=now_millis())
        if self.config["model"] == "offload":
            # A ThreadPoolExecutor cannot address one of its threads: the fault runs as a task on
            # whichever pool thread takes it next.
            self.pool.submit(offload_fault, kind)
            return None
        try:
            os.write(slot.ctrl_w, kind.encode() + b"\n")
        except OSError:
            return f"worker {worker} is not running"
        return None

    def stats(self):
        now = time.monotonic()
        shared = self.shared.read() if self.shared is not None else None
        return {
            "model": self.config["model"],
            "pid": self.pid,
            "port": self.port,
            "adminPort": self.admin_port,
            "ready": self.is_ready(),
            "restarts": self.restarts,
            "lostUpdates": 0 if shared is None else shared["attempts"] - shared["value"],
            "sharedState": shared,
            "cpuIterationsPerMilli": self.iterations_per_milli,
            "workers": [
                {
                    "worker": s.index,
                    "pid": s.pid,
                    "threadId": s.thread_id,
                    "requests": s.requests_before + s.requests,
                    "errors": s.errors_before + s.errors,
                    "alive": s.alive,
                    "serving": self.serving(s, now),
                    "startedAt": s.started_at,
                    "replacedCount": s.replaced_count,
                }
                for s in self.slots
            ],
        }

    # -- offload: one acceptor + a ThreadPoolExecutor of N

    def start_offload(self):
        counter = itertools.count()
        local = threading.local()
        barrier = threading.Barrier(len(self.slots) + 1)

        def initializer():
            slot = self.slots[next(counter)]
            local.slot = slot
            slot.pid = self.pid
            slot.thread_id = threading.get_native_id()
            slot.thread = threading.current_thread()
            slot.alive = True
            slot.started_at = now_millis()
            local.identity = {"worker": slot.index, "pid": self.pid, "threadId": slot.thread_id}
            local.counters = {"requests": 0, "errors": 0}
            local.head = handler.headers_for(local.identity)

        handler = Handler(self.config, self.iterations_per_milli, self.shared, self.tracer)
        self.pool = concurrent.futures.ThreadPoolExecutor(len(self.slots), "pool", initializer)
        # Waiting on one barrier forces the executor to start all N threads now, not lazily.
        for _ in self.slots:
            self.pool.submit(barrier.wait, 10)
        barrier.wait(10)
        for slot in self.slots:
            slot.listening = True

        def task(conn):
            with self.pool_lock:
                self.pool_tasks -= 1
            slot = local.slot
            serve_connection(handler, conn, local.identity, local.head, local.counters)
            slot.requests = local.counters["requests"]
            slot.errors = local.counters["errors"]

        def acceptor():
            selector = selectors.DefaultSelector()
            selector.register(self.listener, selectors.EVENT_READ)
            while not self.shutting_down:
                if not selector.select(HEARTBEAT_SECONDS):
                    continue
                try:
                    conn, _ = self.listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return  # closed by shutdown
                conn.setblocking(True)
                if self.pool_tasks >= MAX_OFFLOAD_QUEUE:
                    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 11\r\nconnection: close\r\n\r\nqueue full\n")
                    conn.close()
                    continue
                with self.pool_lock:
                    self.pool_tasks += 1
                self.pool.submit(task, conn)

        self.acceptor = threading.Thread(target=acceptor, name="acceptor", daemon=True)
        self.acceptor.start()

    # -- shutdown

    def shutdown(self, reason, code):
        """Stops accepting, drains in-flight requests, stops the workers, exits within the bound."""
        self.shutting_down = True
        started = time.monotonic()
        bound = self.config["shutdownTimeoutMillis"] / 1000
        deadline = started + bound * 0.9
        log_event("shutdown", reason=reason, at=now_millis())

        def force():
            for slot in self.slots:
                if slot.alive and self.config["model"] == "process":
                    try:
                        os.kill(slot.pid, signal.SIGKILL)
                    except OSError:
                        pass
            log_event("stopped", forced=True, at=now_millis())
            os._exit(code)

        hard = threading.Timer(bound, force)
        hard.daemon = True
        hard.start()
        model = self.config["model"]
        if model == "offload":
            while self.acceptor.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.listener.close()
            self.pool.shutdown(wait=False)
            while self.pool_tasks > 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            for slot in self.slots:
                slot.alive = False
        else:
            for slot in self.slots:
                if slot.alive and model == "process":
                    try:
                        os.kill(slot.pid, signal.SIGTERM)
                    except OSError:
                        pass
                elif slot.alive and slot.ctrl_w >= 0:
                    try:
                        os.write(slot.ctrl_w, b"shutdown\n")
                    except OSError:
                        pass
            while any(s.alive for s in self.slots) and time.monotonic() < deadline:
                self.tick(0.02)
            if model == "process":
                for slot in self.slots:
                    if slot.alive:
                        try:
                            os.kill(slot.pid, signal.SIGKILL)
                        except OSError:
                            pass
                kill_deadline = time.monotonic() + 1
                while any(s.alive for s in self.slots) and time.monotonic() < kill_deadline:
                    self.tick(0.01)
        if self.tracer is not None:
            self.tracer.shutdown()
        forced = any(s.alive for s in self.slots)
        log_event("stopped", forced=forced, millis=round((time.monotonic() - started) * 1000), at=now_millis())
        os._exit(code)

    def run(self):
        """The main thread's loop: messages, deaths, replacements, until a shutdown is requested."""
        try:
            self.start()
        except Exception as error:  # noqa: BLE001 - reported as the Node workload does
            log_event("error", message=f"start failed: {error}")
            self.request_shutdown("startup-failure", 1)
        while self.shutdown_request is None:
            self.tick(0.1)
        self.shutdown(*self.shutdown_request)


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


# ---- entrypoint --------------------------------------------------------------------------------


def main():
    try:
        config = parse_config(os.environ)
    except ConfigError as error:
        log_event("error", message=str(error))
        sys.stderr.write(f"{error}\n")
        sys.exit(2)
    problem = tracing_problem(config)
    if problem is not None:
        log_event("tracing", enabled=False, reason=problem)
    needs_cpu = config["profile"] != "io" and config["cpuMillis"] > 0
    rate = config["cpuIterationsPerMilli"] or (calibrate() if needs_cpu else 1)
    supervisor = Supervisor(config, rate, problem is None)
    if problem is None and config["model"] != "process":
        supervisor.tracer = RequestTracer(config)
    signal.set_wakeup_fd(supervisor.wake_w)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.request_shutdown("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: supervisor.request_shutdown("SIGINT"))
    if config["exitWithStdin"]:
        # conclab run holds the other end of stdin: EOF means it is gone (even SIGKILLed), and a
        # workload must not outlive the run that measures it.
        def watch_stdin():
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            supervisor.request_shutdown("parent-gone")

        threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    supervisor.run()


if __name__ == "__main__":
    main()
