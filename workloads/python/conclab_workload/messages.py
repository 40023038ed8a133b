"""Messages between the supervisor and its workers.

To the supervisor (JSON lines up a worker process's report pipe; worker threads call the supervisor
directly with the same dicts): {"type": "listening", pid, threadId}, {"type": "heartbeat", requests,
errors}, {"type": "stopping"}, {"type": "flushed", id, ok}, and for the shared-state profile of the
process model {"type": "state-incr"}, {"type": "state-get"}, {"type": "state-set", value}.

To a worker (plain lines down its control pipe): a fault kind, "shutdown", "flush ID", and the
reply to a state request, "state VALUE"."""

import collections
import json
import os
import select
import time


def encode(message):
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def write_message(fd, message):
    try:
        os.write(fd, encode(message))
    except (BlockingIOError, BrokenPipeError, OSError):
        pass  # a full pipe drops a heartbeat; a closed one means the supervisor is gone


def write_message_waiting(fd, message, timeout_seconds):
    """For a message that must not be dropped (a state request): waits, bounded, for pipe room."""
    data = encode(message)
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            os.write(fd, data)
            return True
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([], [fd], [], remaining)
        except OSError:
            return False


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


class SupervisorGone(Exception):
    pass


class ControlChannel:
    """The read end of a worker's control pipe: commands queue up in pending, in order; a request
    waiting for a reply takes the reply out and leaves every other command for the serving loop."""

    def __init__(self, fd):
        self.fd = fd
        self.lines = LineBuffer()
        self.pending = collections.deque()
        self.closed = False

    def fill(self):
        """Reads what is there (call when the fd is readable); EOF marks the channel closed."""
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return
        self.pending.extend(line.decode() for line in self.lines.feed(chunk))

    def wait_reply(self, prefix, timeout_seconds):
        """The text after prefix of the first pending line that starts with it, waiting (bounded)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            for i, line in enumerate(self.pending):
                if line.startswith(prefix):
                    del self.pending[i]
                    return line[len(prefix) :]
            if self.closed:
                raise SupervisorGone("the supervisor closed the control pipe")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {prefix.strip()!r} reply from the supervisor within {timeout_seconds:.0f} s")
            readable, _, _ = select.select([self.fd], [], [], remaining)
            if readable:
                self.fill()
