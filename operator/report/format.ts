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
  const rows = report.variants.map((v) => [
    v.name,
    v.model,
    String(v.workers),
    withCI(v.throughput),
    ms(v.latency.client.p50Millis),
    ms(v.latency.client.p90Millis),
    ms(v.latency.client.p99Millis),
    ms(v.latency.client.p999Millis),
    ms(v.latency.client.maxMillis),
    percent(v.errors.rate * 100, 2),
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
 * What each fault is expected to take down, per model, so the numbers can be read against the
 * theory (and a measurement that contradicts it stands out).
 */
export const FAULT_NUANCE: Record<string, string> = {
  exit: 'exit: a worker process exits alone; a worker thread that calls exit ends only its thread (Node.js worker_threads), so both models lose one worker until it is replaced.',
  abort:
    'abort: a native abort (SIGABRT, as from a crashing native addon) ends the whole OS process: under the process model one worker, under the thread model every worker at once until the process restarts.',
  throw:
    'throw: an uncaught JavaScript exception is contained in its worker under both models (a worker thread dies alone); only that worker is lost.',
  hang: "hang: a busy loop stalls one worker's event loop; the other workers keep serving, but requests routed to the stalled one wait until they time out.",
  leak: "leak: whichever limit is hit first decides: the runtime's heap limit ends only the leaking worker, the cgroup memory limit's OOM killer ends a whole process, which under the thread model is every worker.",
};

/** Nuance sentences for the fault kinds injected in the report, in a stable order. */
export function faultNuances(report: JsonReport): string[] {
  const kinds = new Set(report.trials.flatMap((t) => t.faults.map((f) => f.kind)));
  return Object.keys(FAULT_NUANCE)
    .filter((k) => kinds.has(k as Trial['faults'][number]['kind']))
    .map((k) => FAULT_NUANCE[k] as string);
}
