// What an unsampled request costs the Python workload's tracer: its sampling decision made before
// any span object exists (workloads/python/conclab_workload/tracing.py) against the SDK's own path
// (start_span returning a NonRecordingSpan, then end), both in the same run, same interpreter (the
// tracing environment conclab prepares), ratio 0 so that nothing is sampled.
//   npx node bench/python-sampling.ts [--calls 200000] [--rounds 5]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensurePythonTracingEnv } from '../operator/runtime/local/python-env.ts';

const { values } = parseArgs({ options: { calls: { type: 'string' }, rounds: { type: 'string' } } });
const calls = Number(values.calls ?? 200_000);
const rounds = Number(values.rounds ?? 5);
const workloadDir = fileURLToPath(new URL('../workloads/python/', import.meta.url));

const script = `
import os, sys, time
os.environ.update(OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0",
                  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
from conclab_workload.config import parse_config
from conclab_workload.tracing import RequestTracer
from opentelemetry.trace import SpanKind
tracer = RequestTracer(parse_config(os.environ))
calls, rounds = ${calls}, ${rounds}
cases = {
    "conclab": lambda: tracer.start(None, None, time.time_ns(), {}),
    "sdk": lambda: tracer.tracer.start_span("GET /work", kind=SpanKind.SERVER, start_time=time.time_ns()).end(),
}
per_round = {name: [] for name in cases}
for _ in range(rounds):
    for name, call in cases.items():  # interleaved, so drift of a busy machine hits both alike
        started = time.perf_counter()
        for _ in range(calls):
            call()
        per_round[name].append((time.perf_counter() - started) / calls * 1e6)
for name, values in per_round.items():
    print(name, min(values), sorted(values)[len(values) // 2])
`;

const env = await ensurePythonTracingEnv({ onProgress: (line) => console.error(`python env: ${line}`) });
const r = spawnSync(env.python, ['-c', script], { cwd: workloadDir, encoding: 'utf8' });
if (r.status !== 0) {
  console.error(r.stderr);
  process.exit(1);
}
const figures = Object.fromEntries(
  r.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [name, best, median] = line.split(' ');
      return [name, { best: Number(best), median: Number(median) }];
    }),
) as Record<'conclab' | 'sdk', { best: number; median: number }>;
console.log(`Python ${env.version}, ${rounds} rounds x ${calls} unsampled new-trace requests`);
console.log(
  `  sampling before span objects: best ${figures.conclab.best.toFixed(2)} us, median ${figures.conclab.median.toFixed(2)} us`,
);
console.log(
  `  SDK start_span + end:         best ${figures.sdk.best.toFixed(2)} us, median ${figures.sdk.median.toFixed(2)} us`,
);
console.log(`  ratio (median): ${(figures.conclab.median / figures.sdk.median).toFixed(2)}`);
