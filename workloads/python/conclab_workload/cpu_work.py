"""CPU work as a fixed amount of computation, never "spin until the wall clock says N ms"
(DESIGN.md): under a CPU quota the wall clock runs on while the worker is descheduled. Iterations of
an xorshift kernel, calibrated once to iterations per CPU millisecond of the calling thread."""

import math
import time

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
