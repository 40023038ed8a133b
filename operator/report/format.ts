// Number formatting and the tables every text format shares, so Markdown, terminal and HTML
// say the same thing in the same words.
import type { JsonReport } from './json.ts';

type Variant = JsonReport['variants'][number];
type Trial = JsonReport['trials'][number];
type Estimate = Variant['throughput'];
type BlastRadius = Trial['blastRadius'][number];

/** Significant-looking but not noisy: 3 significant digits, no exponent below a million. */
export function num(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 10 ** digits) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

export function ms(x: number | undefined): string {
  return x === undefined ? '–' : num(x);
}

export function seconds(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${num(x, 2)} s`;
}

export function percent(x: number | undefined, digits = 2): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${num(x, digits)}%`;
}

export function bytes(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = x;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${num(v)} ${units[i]}`;
}

/** "160 ± 2.1" with the 95% CI half-width, or the bare mean when there is no interval. */
export function withCI(e: Estimate | undefined, format: (x: number) => string = (x) => num(x)): string {
  if (!e || e.mean === undefined) return '–';
  if (!e.ci) return format(e.mean);
  const halfWidth = (e.ci.upper - e.ci.lower) / 2;
  // Identical trials leave rounding noise (1e-16) as the half-width: that is zero.
  const shown = halfWidth < 1e-9 * Math.max(1, Math.abs(e.mean)) ? 0 : halfWidth;
  return `${format(e.mean)} ± ${num(shown, 2)}`;
}

export type Align = 'left' | 'right';

export interface Table {
  headers: string[];
  align: Align[];
  rows: string[][];
}

/** The per-variant results table. */
export function resultsTable(report: JsonReport): Table {
  // A variant without a measured request has no latency: a dash, never 0 ms.
  const lat = (v: Variant, x: number) => (v.latency.client.count > 0 ? ms(x) : '–');
  const rows = report.variants.map((v) => [
    v.name,
    v.model,
    String(v.workers),
    v.trials > 0 ? withCI(v.throughput) : '–',
    lat(v, v.latency.client.p50Millis),
    lat(v, v.latency.client.p90Millis),
    lat(v, v.latency.client.p99Millis),
    lat(v, v.latency.client.p999Millis),
    lat(v, v.latency.client.maxMillis),
    v.errors.scheduled > 0 ? percent(v.errors.rate * 100, 2) : '–',
    String(v.errors.dropped),
    v.resources ? withCI(v.resources.cpuSeconds) : '–',
    v.resources ? withCI(v.resources.throttledSeconds) : '–',
    v.resources ? bytes(v.resources.peakMemoryMaxBytes) : '–',
  ]);
  return {
    headers: [
      'variant',
      'model',
      'workers',
      'req/s (±95% CI)',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'failed',
      'dropped',
      'CPU s',
      'throttled s',
      'peak memory',
    ],
    align: [
      'left',
      'left',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
    ],
    rows,
  };
}

export function dimensionsTable(report: JsonReport): Table {
  return {
    headers: ['dimension', 'winner', 'finding'],
    align: ['left', 'left', 'left'],
    rows: report.dimensions.map((d) => [
      d.label,
      d.winner ?? (d.assessable ? 'none' : 'not assessable'),
      d.statement.replace(/^[^:]+: /, ''),
    ]),
  };
}

export function serverTable(report: JsonReport): Table | undefined {
  const withSpans = report.variants.filter((v) => v.latency.server || v.workerSpread);
  if (withSpans.length === 0) return undefined;
  return {
    headers: [
      'variant',
      'span p50 ms',
      'span p99 ms',
      'queue p50 ms',
      'queue p99 ms',
      'workers seen',
      'spread CV',
      'sampling CV',
    ],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: withSpans.map((v) => [
      v.name,
      ms(v.latency.server?.p50Millis),
      ms(v.latency.server?.p99Millis),
      ms(v.latency.queue?.p50Millis),
      ms(v.latency.queue?.p99Millis),
      v.workerSpread ? `${v.workerSpread.workersSeen}/${v.workers}` : '–',
      v.workerSpread ? num(v.workerSpread.cv, 2) : '–',
      v.workerSpread ? num(v.workerSpread.samplingNoiseCv, 2) : '–',
    ]),
  };
}

export function blastTable(report: JsonReport): Table | undefined {
  const faulted = report.variants.filter((v) => v.blastRadius);
  if (faulted.length === 0) return undefined;
  const faultKinds = (name: string) =>
    [...new Set(report.trials.filter((t) => t.variant === name).flatMap((t) => t.faults.map((f) => f.kind)))].join(
      ', ',
    );
  return {
    headers: [
      'variant',
      'fault',
      'capacity lost (peak)',
      'requests lost',
      'detect',
      'recover',
      'never recovered',
      'restarts',
      'workers replaced',
      'down',
      'cold start',
    ],
    align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: faulted.map((v) => {
      const b = v.blastRadius as NonNullable<Variant['blastRadius']>;
      return [
        v.name,
        faultKinds(v.name),
        withCI(b.peakCapacityLostPercent, (x) => `${num(x, 3)}%`),
        withCI(b.requestsLost),
        b.detectSeconds ? withCI(b.detectSeconds, seconds) : '–',
        b.recoverySeconds ? withCI(b.recoverySeconds, seconds) : 'never',
        `${b.neverRecovered}/${b.measurable}`,
        `${b.restarts}/${b.measurable}`,
        String(b.workersReplaced),
        b.downSeconds ? withCI(b.downSeconds, seconds) : '–',
        b.coldStartSeconds ? withCI(b.coldStartSeconds, seconds) : '–',
      ];
    }),
  };
}

/** max-throughput: each trial's search, step by step, and the capacity it found. */
export function searchTable(report: JsonReport): Table | undefined {
  const searched = report.trials.filter((t) => t.search);
  if (searched.length === 0) return undefined;
  return {
    headers: ['variant', 'trial', 'capacity req/s', 'search ended', 'steps (rate: outcome, p99 ms)'],
    align: ['left', 'right', 'right', 'left', 'left'],
    rows: searched.map((t) => {
      const search = t.search as NonNullable<typeof t.search>;
      return [
        t.variant,
        String(t.trial),
        num(search.capacity),
        search.end,
        search.steps
          .map(
            (st) =>
              `${num(st.rate)}: ${st.unreliable ? 'unjudged' : st.passed ? 'ok' : 'failed'} ${ms(st.latencyMillis.p99)}`,
          )
          .join(', '),
      ];
    }),
  };
}

export function trialsTable(report: JsonReport): Table {
  return {
    headers: [
      'variant',
      'trial',
      'req/s',
      'offered',
      'p99 ms',
      'failed',
      'dropped',
      'in flight at end',
      'generator',
      'note',
    ],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
    rows: report.trials.map((t) => [
      t.variant,
      String(t.trial),
      num(t.throughput),
      num(t.offeredRate),
      ms(t.latency.p99Millis),
      String(t.errors),
      String(t.dropped),
      String(t.inFlightAtEnd),
      t.generator.unreliable ? 'SATURATED' : 'ok',
      [t.failure, t.partial ? 'partial' : undefined].filter(Boolean).join('; '),
    ]),
  };
}

/** The first measurable blast radius of each variant: the trial its timeline shows. */
export function representativeBlast(report: JsonReport, variant: string): BlastRadius | undefined {
  for (const t of report.trials) {
    if (t.variant !== variant) continue;
    const b = t.blastRadius.find((x) => x.measurable);
    if (b) return b;
  }
  return undefined;
}

/** Trial number of a blast radius entry (the JSON nests it under its trial). */
export function trialOf(report: JsonReport, b: BlastRadius): number | undefined {
  return report.trials.find((t) => t.blastRadius.includes(b))?.trial;
}

/** A compact horizontal per-second timeline: offsets as columns, one row per series. */
export function timelineRows(b: BlastRadius): { label: string; cells: string[] }[] {
  const pts = b.timeline;
  return [
    { label: 't (s)', cells: pts.map((p) => (p.offsetSeconds > 0 ? `+${p.offsetSeconds}` : String(p.offsetSeconds))) },
    { label: 'ok/s', cells: pts.map((p) => String(p.completed)) },
    { label: 'err/s', cells: pts.map((p) => String(p.errors)) },
    { label: 'p99 ms', cells: pts.map((p) => (p.completed > 0 ? num(p.p99Millis, 2) : '–')) },
  ];
}

/** Lines of fixed-width text for timelineRows, right-aligned in columns. */
export function timelineText(b: BlastRadius): string[] {
  const rows = timelineRows(b);
  const width = Math.max(...rows.flatMap((r) => r.cells.map((c) => c.length)), 2);
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  return rows.map((r) => `${r.label.padEnd(labelWidth)} ${r.cells.map((c) => c.padStart(width)).join(' ')}`);
}

/**
 * What each fault is expected to take down, per model and per runtime, so the numbers can be
 * read against the theory (and a measurement that contradicts it stands out). The runtimes
 * differ where it matters: a CPython thread that never releases the GIL stalls every thread
 * of its process; a Node.js worker thread has its own event loop and stalls alone.
 */
export const FAULT_NUANCES: Record<string, Record<string, string>> = {
  node: {
    exit: 'exit: a worker process exits alone; a worker thread that calls exit ends only its thread (Node.js worker_threads), so both models lose one worker until it is replaced.',
    abort:
      'abort: a native abort (SIGABRT, as from a crashing native addon) ends the whole OS process: under the process model one worker, under the thread model every worker at once until the process restarts.',
    throw:
      'throw: an uncaught JavaScript exception is contained in its worker under both models (a worker thread dies alone); only that worker is lost.',
    hang: "hang: a busy loop stalls one worker's event loop under both models (each worker thread has its own loop); the others keep serving, but the kernel keeps handing the stalled one its share of new connections, which wait until they time out. A hung worker is alive, so it is not replaced.",
    leak: "leak: under processes the leaking process hits its V8 heap limit or is the one the cgroup OOM killer picks, so one worker is lost and replaced. Under threads the leak grows the one process that holds every worker: the cgroup limit's OOM killer ends the whole server (unless a per-thread heap limit ends the thread first).",
  },
  python: {
    exit: 'exit: SystemExit ends one worker process under the process model, and only its thread under the thread model; either way one worker is lost until it is replaced.',
    abort:
      'abort: os.abort() ends the whole OS process: under the process model one worker, under the thread model every worker at once until the process restarts.',
    throw:
      'throw: an uncaught exception ends one worker process, or only its thread under the thread model; one worker is lost until it is replaced.',
    hang: "hang: a C-level loop that never releases the GIL stops one worker process under the process model (the others serve). Under the thread model every thread waits for the GIL: the whole server stalls, its admin endpoints included, until it is killed. This is the GIL's blast radius.",
    leak: 'leak: under processes the leaking process grows until the cgroup OOM killer (or its own address-space limit) ends it: one worker, replaced. Under threads the one process holds every worker and grows until the cgroup limit kills the whole server.',
  },
};

/** The nuance of one fault kind for the runtime (Node.js wording for a runtime not listed). */
export function faultNuance(kind: string, runtime: string): string | undefined {
  return FAULT_NUANCES[runtime]?.[kind] ?? FAULT_NUANCES.node?.[kind];
}

/** Nuance sentences for the fault kinds injected in the report, in a stable order. */
export function faultNuances(report: JsonReport): string[] {
  const kinds = new Set<string>(report.trials.flatMap((t) => t.faults.map((f) => f.kind)));
  const runtime = report.config.workload.runtime;
  return ['exit', 'abort', 'throw', 'hang', 'leak']
    .filter((k) => kinds.has(k))
    .flatMap((k) => {
      const n = faultNuance(k, runtime);
      return n ? [n] : [];
    });
}

/** Context switches and run-queue wait per request. */
export function contextSwitchTable(report: JsonReport): Table | undefined {
  const measured = report.variants.filter((v) => v.contextSwitches);
  if (measured.length === 0) return undefined;
  return {
    headers: [
      'variant',
      'model',
      'workers',
      'voluntary / request',
      'involuntary / request',
      'run-queue wait / request',
      'per',
    ],
    align: ['left', 'left', 'right', 'right', 'right', 'right', 'left'],
    rows: measured.map((v) => {
      const c = v.contextSwitches as NonNullable<Variant['contextSwitches']>;
      return [
        v.name,
        v.model,
        String(v.workers),
        withCI(c.voluntaryPerRequest),
        withCI(c.involuntaryPerRequest),
        c.runQueueWaitMillisPerRequest ? `${withCI(c.runQueueWaitMillisPerRequest)} ms` : '–',
        c.requestsFrom === 'server' ? 'request served' : 'request (client count)',
      ];
    }),
  };
}

/** Memory by process: sums over the variant's processes, and per worker. */
export function memoryTable(report: JsonReport): Table | undefined {
  const measured = report.variants.filter((v) => v.processMemory);
  if (measured.length === 0) return undefined;
  return {
    headers: [
      'variant',
      'processes',
      'RSS sum',
      'PSS sum',
      'USS sum',
      'shared (PSS-USS)',
      'PSS / worker',
      'USS / worker',
      'cgroup peak',
    ],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: measured.map((v) => {
      const m = v.processMemory as NonNullable<Variant['processMemory']>;
      return [
        v.name,
        String(m.processes),
        bytes(m.rssBytes.mean),
        bytes(m.pssBytes.mean),
        bytes(m.ussBytes.mean),
        bytes(m.sharedBytes.mean),
        bytes(m.perWorkerPssBytes.mean),
        bytes(m.perWorkerUssBytes.mean),
        v.resources ? bytes(v.resources.peakMemoryMaxBytes) : '–',
      ];
    }),
  };
}

/**
 * The memory finding in words: what a process model holds once per worker, what the thread
 * model shares, and how far summing RSS would overstate either.
 */
export function memoryFindings(report: JsonReport): string[] {
  return report.variants.flatMap((v) => {
    const m = v.processMemory;
    if (!m) return [];
    const pss = m.pssBytes.mean ?? 0;
    const uss = m.ussBytes.mean ?? 0;
    const rss = m.rssBytes.mean ?? 0;
    const overcount = rss - pss;
    const head =
      m.processes === 1
        ? `${v.name}: one process holds all ${v.workers} workers: ${bytes(pss)} PSS, ${bytes(uss)} of it private`
        : `${v.name}: ${m.processes} processes (${m.servingProcesses} serving): ${bytes(pss)} PSS, ${bytes(uss)} of it private to one process (each worker process pays its runtime again, about ${bytes(m.perWorkerUssBytes.mean)} per worker)`;
    return [
      `${head}; summing RSS would say ${bytes(rss)}${overcount > 0 ? `, counting ${bytes(overcount)} of shared pages more than once` : ''}.`,
    ];
  });
}

/** shared-state: the cost of one update and the updates lost. */
export function sharedStateTable(report: JsonReport): Table | undefined {
  const measured = report.variants.filter((v) => v.sharedState);
  if (measured.length === 0) return undefined;
  const us = (x: number | undefined) => (x === undefined ? '–' : `${num(x)} us`);
  return {
    headers: ['variant', 'model', 'mode', 'updates timed', 'cost p50', 'cost p99', 'cost max', 'lost updates'],
    align: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right'],
    rows: measured.map((v) => {
      const s = v.sharedState as NonNullable<Variant['sharedState']>;
      // Racy processes still talk IPC, but read and write in two messages; racy threads drop the lock.
      const mode =
        v.model === 'process'
          ? s.racy
            ? 'racy: get + set over IPC'
            : 'IPC: the owner increments'
          : s.racy
            ? 'racy: no lock'
            : 'lock';
      return [
        v.name,
        v.model,
        mode,
        String(s.updates),
        us(s.costMicros?.p50Micros),
        us(s.costMicros?.p99Micros),
        us(s.costMicros?.maxMicros),
        s.lostUpdates === undefined
          ? 'not reported'
          : `${s.lostUpdates}${s.attempts ? ` of ${s.attempts} (${percent((s.lostUpdates / s.attempts) * 100, 2)})` : ''}`,
      ];
    }),
  };
}

/** The experiment in one line: workload, budget, load and trials. */
export function configLine(report: JsonReport): string {
  const c = report.config;
  const w = c.workload;
  const work =
    w.profile === 'io'
      ? `io ${w.ioWait} wait`
      : w.profile === 'mixed'
        ? `mixed ${w.cpuTime} CPU + ${w.ioWait} wait`
        : `${w.profile} ${w.cpuTime} CPU`;
  const load =
    c.load.pattern === 'ramping-arrival-rate'
      ? `ramping ${c.load.stages?.map((s) => `${s.target}/s over ${s.duration}`).join(', ')}`
      : `${c.load.pattern} ${c.load.rate ?? ''}${c.load.rate ? ' req/s' : ''} for ${c.load.duration}`;
  return `${w.runtime} workload, ${work} per request; budget ${c.resources.cpu} CPU / ${c.resources.memory} per variant; ${load} after ${c.load.warmUp} warm-up; ${c.trials} trial(s) per variant, interleaved.`;
}
