"""Structured logs: one JSON object per line on stdout, each with an "event" field."""

import json
import os
import time


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
