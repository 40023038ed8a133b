"""Fault injection inside one worker. Each kind does what a real failure of that sort does; the
effect on the service depends on the model (README.md, "Faults per model")."""

import collections
import itertools
import os
import time

LEAK_CHUNK_BYTES = 1 << 20
LEAK_CHUNKS_PER_STEP = 16


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
