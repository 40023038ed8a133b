"""The supervisor's bounded event log (operator/contracts/supervisor.ts, SupervisorEvent): what the
trial runner reads with GET /stats?since=SEQ, numbered from 0 per supervisor process."""

import collections
import threading
import time

MAX_EVENTS = 1000
KINDS = ("worker-exit", "worker-replaced", "not-ready", "ready", "fault")


def describe_exit(code, signal_name, error):
    """The contract's exit text: "code 70", "signal SIGABRT", "error: RuntimeError: ..."."""
    if error is not None:
        return f"error: {error}"
    if signal_name is not None:
        return f"signal {signal_name}"
    return f"code {code}"


class EventLog:
    """Appends from any thread; keeps the last MAX_EVENTS."""

    def __init__(self, limit=MAX_EVENTS):
        self.items = collections.deque(maxlen=limit)
        self.next_seq = 0
        self.lock = threading.Lock()

    def add(self, kind, **fields):
        if kind not in KINDS:
            raise ValueError(f"unknown supervisor event kind {kind!r}")
        with self.lock:
            event = {"seq": self.next_seq, "atMillis": time.time() * 1000, "kind": kind}
            event.update({k: v for k, v in fields.items() if v is not None})
            self.items.append(event)
            self.next_seq += 1
        return event

    def since(self, seq):
        """{nextSeq, items with seq >= seq}, plus truncated: true when some asked for are gone."""
        with self.lock:
            items = [e for e in self.items if e["seq"] >= seq]
            oldest = self.items[0]["seq"] if self.items else self.next_seq
            page = {"nextSeq": self.next_seq, "items": items}
            if seq < oldest:
                page["truncated"] = True
            return page
