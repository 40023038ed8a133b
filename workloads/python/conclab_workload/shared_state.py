"""The shared-state profile: every request updates one record shared by all workers. Threads share
memory (a record guarded by a lock); processes cannot, so they ask the state owner (the supervisor)
over their pipes. Racy mode drops the lock (threads) or splits the update into get + set messages
(processes) and counts lost updates. Every update returns its cost in milliseconds, which becomes
the span attribute conclab.shared_state_cost_ms: lock wait plus hold for threads, the IPC round
trip(s) for processes."""

import threading
import time

# Fields of the shared record; an update increments all of them, so it is not one bytecode.
RECORD_SLOTS = 16


class ThreadSharedState:
    def __init__(self, racy):
        self.racy = racy
        self.lock = threading.Lock()
        self.attempts = 0
        self.record = [0] * RECORD_SLOTS

    def update(self):
        started = time.perf_counter_ns()
        record = self.record
        if self.racy:
            with self.lock:
                self.attempts += 1
            # Read-modify-write without the lock: a thread switch in between loses updates.
            snapshot = list(record)
            for i in range(RECORD_SLOTS):
                record[i] = snapshot[i] + 1
        else:
            with self.lock:
                self.attempts += 1
                for i in range(RECORD_SLOTS):
                    record[i] += 1
        return (time.perf_counter_ns() - started) / 1e6

    def read(self):
        return {"attempts": self.attempts, "value": self.record[0]}


class ProcessSharedState:
    """A worker process's side: the record lives in the supervisor. ask(message) sends one request
    up the report pipe and blocks until the supervisor's "state VALUE" reply comes down the control
    pipe (a sync worker does nothing else meanwhile)."""

    def __init__(self, ask, racy):
        self.ask = ask
        self.racy = racy

    def update(self):
        started = time.perf_counter_ns()
        if self.racy:
            value = self.ask({"type": "state-get"})
            self.ask({"type": "state-set", "value": value + 1})
        else:
            self.ask({"type": "state-incr"})
        return (time.perf_counter_ns() - started) / 1e6


class StateOwner:
    """The supervisor's half for the process model: it owns the record and answers in order."""

    def __init__(self):
        self.attempts = 0
        self.value = 0

    def handle(self, message):
        """The value to reply with, or None when the message is not about state."""
        kind = message.get("type")
        if kind == "state-incr":
            self.attempts += 1
            self.value += 1
            return self.value
        if kind == "state-get":
            self.attempts += 1
            return self.value
        if kind == "state-set":
            self.value = int(message["value"])
            return self.value
        return None

    def read(self):
        return {"attempts": self.attempts, "value": self.value}
