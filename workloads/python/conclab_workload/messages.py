"""Messages between the supervisor and its workers. Worker processes send JSON lines up a pipe
(report) and read plain command lines from another (control); worker threads call the supervisor
directly with the same dicts. To a worker (control pipe): a fault kind, "shutdown".
To the supervisor: {"type": "listening", pid, threadId}, {"type": "heartbeat", requests, errors},
{"type": "stopping"}."""

import json
import os


def write_message(fd, message):
    try:
        os.write(fd, (json.dumps(message, separators=(",", ":")) + "\n").encode())
    except (BlockingIOError, BrokenPipeError, OSError):
        pass  # a full pipe drops a heartbeat; a closed one means the supervisor is gone


class LineBuffer:
    """Splits a byte stream into lines; keeps the incomplete tail for the next chunk."""

    def __init__(self):
        self.pending = b""

    def feed(self, chunk):
        self.pending += chunk
        if b"\n" not in self.pending:
            return []
        *lines, self.pending = self.pending.split(b"\n")
        return lines
