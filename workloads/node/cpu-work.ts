// CPU work as a fixed amount of computation. DESIGN.md: never "spin until the wall clock says
// N ms" — under a CPU quota the wall clock runs on while the worker is descheduled, so such a
// burn does less work exactly when the budget is tight. We count iterations of a kernel instead,
// and find iterations-per-CPU-millisecond once, measured in this thread's CPU time.

/** Runs `iterations` rounds of an xorshift kernel; the result is returned so it cannot be elided. */
export function burn(iterations: number, seed: number): number {
  let x = seed | 0 || 1;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x | 0;
}

function threadCpuMicros(): number {
  const usage = process.threadCpuUsage();
  return usage.user + usage.system;
}

/**
 * Measures kernel iterations per CPU millisecond on the calling thread. Takes the best of a few
 * rounds (least disturbed by preemption or JIT warm-up) so it reflects an idle core.
 */
export function calibrate(options: { rounds?: number; roundCpuMillis?: number } = {}): number {
  const rounds = options.rounds ?? 5;
  const roundCpuMillis = options.roundCpuMillis ?? 40;
  burn(200_000, 7); // warm up the JIT before measuring
  let best = 0;
  let iterations = 100_000;
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    // Grow the batch until one round takes long enough to be measured precisely (bounded).
    for (let grow = 0; grow < 30; grow++) {
      const start = threadCpuMicros();
      sink ^= burn(iterations, round + 1);
      const cpuMillis = (threadCpuMicros() - start) / 1000;
      if (cpuMillis >= roundCpuMillis) {
        best = Math.max(best, iterations / cpuMillis);
        break;
      }
      iterations = Math.ceil(
        iterations * Math.min(8, Math.max(1.5, (roundCpuMillis * 1.2) / Math.max(cpuMillis, 0.01))),
      );
    }
  }
  if (best === 0 || sink === 0.5) throw new Error('CPU calibration failed: no round reached the measurable length');
  return best;
}
