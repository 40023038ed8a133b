"""The supervisor: the main thread of the one process (thread, offload) or the parent of the forked
workers (process). It starts the N workers, replaces the ones that die, keeps the event log and
answers the admin endpoints (admin.py, stats.py), injects faults, owns the shared state of the
process model, runs the offload acceptor, flushes spans on request, and shuts everything down."""

import concurrent.futures
import itertools
import json
import os
import queue
import selectors
import signal
import socket
import threading
import time
import traceback
from http.server import ThreadingHTTPServer

from .admin import make_admin_handler
from .cgroup_usage import detect_version
from .events import EventLog, describe_exit
from .faults import offload_fault
from .host import host_facts
from .log import log_event, now_millis
from .messages import ControlChannel
from .proc import process_start_millis
from .shared_state import StateOwner, ThreadSharedState
from .worker import HEARTBEAT_SECONDS, Handler, WorkerContext, run_worker_process, serve_connection, serving_loop

HEARTBEAT_STALE_SECONDS = 2.0
STARTUP_TIMEOUT_SECONDS = 30.0
MAX_OFFLOAD_QUEUE = 100_000


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
        self.spawned_monotonic = 0.0
        self.replaced_count = 0
        self.replacing = None
        self.quick_deaths = 0
        self.report_r = -1
        self.ctrl_w = -1
        self.buffer = b""
        self.exit_info = None  # thread model: (code, error) set by the dying thread
        self.respawn_at = None
        self.was_serving = False


class Supervisor:
    def __init__(self, config, iterations_per_milli, traced, tracing_detail=None):
        self.config = config
        self.iterations_per_milli = iterations_per_milli
        self.traced = traced
        self.tracing_detail = tracing_detail
        self.pid = os.getpid()
        self.started_at_millis = process_start_millis(self.pid, time.time() * 1000)
        self.ready_at_millis = None
        self.slots = [Slot(i) for i in range(config["workers"])]
        shared_state = config["profile"] == "shared-state"
        # Threads share memory; processes ask the supervisor, which owns the record.
        self.shared = ThreadSharedState(config["racy"]) if shared_state and config["model"] != "process" else None
        self.state_owner = StateOwner() if shared_state and config["model"] == "process" else None
        self.ready = False
        self.last_ready = False
        self.shutting_down = False
        self.shutdown_request = None
        self.restarts = 0
        self.events = EventLog()
        self.host = host_facts(detect_version(config["cgroupRoot"]))
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.dead_threads = queue.SimpleQueue()
        # Control pipes are written by the main thread, the admin threads and fault timers, and
        # closed by the main thread: one lock, so no write goes to a closed (or reused) fd.
        self.ctrl_lock = threading.Lock()
        self.flush_ids = itertools.count(1)
        self.flush_cond = threading.Condition()
        self.flush_acks = {}
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

    def send_command(self, slot, command):
        """One line down slot's control pipe; False when the worker is gone."""
        with self.ctrl_lock:
            if slot.ctrl_w < 0:
                return False
            try:
                os.write(slot.ctrl_w, command.encode() + b"\n")
                return True
            except OSError:
                return False

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

    def shared_totals(self):
        if self.state_owner is not None:
            return self.state_owner.read()
        if self.shared is not None:
            return self.shared.read()
        return None

    def worker_pids(self):
        """Live worker processes (process model); empty under the thread models."""
        return [s.pid for s in self.slots if s.alive and s.pid not in (0, self.pid)]

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
        for slot in self.slots:
            slot.was_serving = True
        self.last_ready = True
        self.ready_at_millis = self.events.add("ready", detail=f"all {len(self.slots)} workers serving")["atMillis"]
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

            def scheduled():
                if not self.shutting_down and self.slots[fault["worker"]].alive:
                    self.accept_fault(fault["kind"], fault["worker"])
                    self.inject_fault(fault["kind"], fault["worker"])

            timer = threading.Timer(fault["afterMillis"] / 1000, scheduled)
            timer.daemon = True
            timer.start()

    def spawn(self, slot):
        """Starts slot's worker. Always called on the main thread: PR_SET_PDEATHSIG fires when the
        thread that forked exits, so only the main thread may fork."""
        slot.alive = True
        slot.listening = False
        slot.stopping = False
        slot.started_at = now_millis()
        slot.spawned_monotonic = time.monotonic()
        slot.last_beat = time.monotonic()
        slot.requests = 0
        slot.errors = 0
        slot.exit_info = None
        ctrl_r, ctrl_w = os.pipe()
        with self.ctrl_lock:
            slot.ctrl_w = ctrl_w
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
        handler = Handler(self.config, self.iterations_per_milli, self.shared, self.tracer)
        context = WorkerContext(handler, {"worker": slot.index, "pid": self.pid, "threadId": slot.thread_id})
        try:
            serving_loop(
                handler, self.listener, ControlChannel(ctrl_r), context, lambda m: self.on_message(slot, m), lambda: False
            )
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
                    message = json.loads(line)
                except ValueError:
                    continue
                self.on_message(slot, message)
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
        self.check_readiness()

    def check_readiness(self):
        """Records each transition of readiness, naming the worker that caused it."""
        if not self.ready:
            return
        now = time.monotonic()
        serving = [self.serving(s, now) for s in self.slots]
        ready = not self.shutting_down and all(serving)
        if ready != self.last_ready:
            if ready:
                back = [s.index for s, up in zip(self.slots, serving) if up and not s.was_serving]
                self.events.add("ready", worker=back[-1] if back else None)
            elif self.shutting_down:
                self.events.add("not-ready", worker=-1, detail="shutting down")
            else:
                went = [s.index for s, up in zip(self.slots, serving) if not up and s.was_serving]
                down = [s.index for s, up in zip(self.slots, serving) if not up]
                worker = went[0] if went else (down[0] if down else -1)
                self.events.add("not-ready", worker=worker, detail=self.down_reason(self.slots[worker]) if worker >= 0 else None)
            self.last_ready = ready
        for slot, up in zip(self.slots, serving):
            slot.was_serving = up

    @staticmethod
    def down_reason(slot):
        if not slot.alive:
            return "worker exited"
        if not slot.listening:
            return "worker starting"
        return f"no heartbeat for {HEARTBEAT_STALE_SECONDS:.0f} s"

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
                cold_start_millis = (time.monotonic() - slot.spawned_monotonic) * 1000
                self.events.add(
                    "worker-replaced",
                    worker=slot.index,
                    pid=message["pid"],
                    threadId=message["threadId"],
                    coldStartMillis=round(cold_start_millis, 1),
                    detail=f"replaced pid {slot.replacing[0]} thread {slot.replacing[1]}",
                )
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
        elif kind == "flushed":
            with self.flush_cond:
                acks = self.flush_acks.get(message.get("id"))
                if acks is not None:
                    acks[slot.index] = bool(message.get("ok"))
                    self.flush_cond.notify_all()
        elif self.state_owner is not None:
            value = self.state_owner.handle(message)
            if value is not None:
                self.send_command(slot, f"state {value}")

    def on_exit(self, slot, code, signal_name, error):
        slot.alive = False
        slot.listening = False
        slot.requests_before += slot.requests
        slot.errors_before += slot.errors
        slot.requests = 0
        slot.errors = 0
        with self.ctrl_lock:
            if slot.ctrl_w >= 0:
                os.close(slot.ctrl_w)
                slot.ctrl_w = -1
        with self.flush_cond:
            for acks in self.flush_acks.values():
                acks.setdefault(slot.index, False)  # it ended before it could flush
            self.flush_cond.notify_all()
        expected = slot.stopping or self.shutting_down
        self.events.add(
            "worker-exit",
            worker=slot.index,
            pid=slot.pid,
            threadId=slot.thread_id,
            exit=describe_exit(code, signal_name, error),
            detail="expected: the service is stopping" if expected else None,
        )
        fields = {"worker": slot.index, "pid": slot.pid, "threadId": slot.thread_id, "code": code, "signal": signal_name}
        if error is not None:
            fields["error"] = error
        log_event("worker-exit", **fields, expected=expected, at=now_millis())
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

    # -- faults

    def accept_fault(self, kind, worker):
        """Records a fault the moment it is accepted (before it is sent, which may end us)."""
        slot = self.slots[worker]
        self.events.add("fault", worker=worker, pid=slot.pid, threadId=slot.thread_id, faultKind=kind)

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
        if not self.send_command(slot, kind):
            return f"worker {worker} is not running"
        return None

    # -- flush (POST /flush)

    def flush(self, timeout_seconds):
        """Asks every serving worker to export the spans its processor holds; waits up to the bound.
        Returns (workers asked, done, failed, pending), as worker indices."""
        targets = [s.index for s in self.slots if s.alive and s.listening]
        if not self.traced or not targets:
            return [], [], [], []
        if self.config["model"] != "process":
            # One provider serves every thread of the process: one flush covers them all. It blocks
            # until the export is done, so it runs on a helper thread the bound can give up on.
            result = {}
            helper = threading.Thread(target=lambda: result.setdefault("ok", self.tracer.flush()), daemon=True)
            helper.start()
            helper.join(timeout_seconds)
            if "ok" not in result:
                return targets, [], [], targets
            return (targets, targets, [], []) if result["ok"] else (targets, [], targets, [])
        flush_id = str(next(self.flush_ids))
        deadline = time.monotonic() + timeout_seconds
        with self.flush_cond:
            self.flush_acks[flush_id] = {}
        asked = [i for i in targets if self.send_command(self.slots[i], f"flush {flush_id}")]
        with self.flush_cond:
            acks = self.flush_acks[flush_id]
            while any(i not in acks for i in asked):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.flush_cond.wait(remaining)
            acks = dict(self.flush_acks.pop(flush_id))
        done = [i for i in targets if acks.get(i) is True]
        failed = [i for i in targets if acks.get(i) is False or i not in asked]
        pending = [i for i in targets if i not in done and i not in failed]
        return targets, done, failed, pending

    # -- offload: one acceptor + a ThreadPoolExecutor of N

    def start_offload(self):
        counter = itertools.count()
        local = threading.local()
        barrier = threading.Barrier(len(self.slots) + 1)

        def initializer():
            slot = self.slots[next(counter)]
            slot.pid = self.pid
            slot.thread_id = threading.get_native_id()
            slot.thread = threading.current_thread()
            slot.alive = True
            slot.started_at = now_millis()
            local.slot = slot
            local.context = WorkerContext(handler, {"worker": slot.index, "pid": self.pid, "threadId": slot.thread_id})

        handler = Handler(self.config, self.iterations_per_milli, self.shared, self.tracer)
        self.pool = concurrent.futures.ThreadPoolExecutor(len(self.slots), "pool", initializer)
        # Waiting on one barrier forces the executor to start all N threads now, not lazily.
        for _ in self.slots:
            self.pool.submit(barrier.wait, 10)
        barrier.wait(10)
        for slot in self.slots:
            slot.listening = True

        def task(conn, arrival_ns):
            with self.pool_lock:
                self.pool_tasks -= 1
            slot = local.slot
            # Arrival is when the acceptor took the connection: the span's queue time is the wait
            # for a free pool thread.
            serve_connection(handler, conn, local.context, arrival_ns)
            slot.requests = local.context.requests
            slot.errors = local.context.errors

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
                arrival_ns = time.time_ns()
                conn.setblocking(True)
                if self.pool_tasks >= MAX_OFFLOAD_QUEUE:
                    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 11\r\nconnection: close\r\n\r\nqueue full\n")
                    conn.close()
                    continue
                with self.pool_lock:
                    self.pool_tasks += 1
                self.pool.submit(task, conn, arrival_ns)

        self.acceptor = threading.Thread(target=acceptor, name="acceptor", daemon=True)
        self.acceptor.start()

    # -- shutdown

    def shutdown(self, reason, code):
        """Stops accepting, drains in-flight requests, stops the workers, exits within the bound."""
        self.shutting_down = True
        self.check_readiness()
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
                elif slot.alive:
                    self.send_command(slot, "shutdown")
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
