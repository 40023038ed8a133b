"""The work one request does, identical for every model: only who runs it differs."""

import time

from .cpu_work import burn


class WorkPlan:
    """What one request does under the configured profile: kernel iterations (cpu, mixed,
    shared-state), an update of the shared record (shared-state), a sleep standing in for a
    downstream call (io, mixed)."""

    def __init__(self, config, iterations_per_milli, shared):
        profile = config["profile"]
        self.cpu_iterations = 0 if profile == "io" else round(config["cpuMillis"] * iterations_per_milli)
        self.io_seconds = config["ioMillis"] / 1000 if profile in ("io", "mixed") else 0
        self.shared = shared if profile == "shared-state" else None
        # Folds every result in, so the computation is observable and cannot be skipped.
        self.checksum = 0

    def perform(self, seed):
        """Does one request's work; returns the cost of the shared-state update in ms, or None."""
        result = burn(self.cpu_iterations, seed) if self.cpu_iterations > 0 else seed
        self.checksum ^= result
        cost = self.shared.update() if self.shared is not None else None
        if self.io_seconds > 0:
            time.sleep(self.io_seconds)
        return cost
