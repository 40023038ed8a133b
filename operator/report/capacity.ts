// The capacity-planning sections of every report (terminal, Markdown, HTML), from the JSON
// report's capacityPlan: per variant the USL fit over the sweep (coefficients with their
// errors, N*, residuals, the sentence on contention and coherency), the fitted curve beside
// the measured points (a chart in HTML, a table elsewhere), and the sizing table for
// spec.target with its arithmetic. Each renderer passes its own table function, so this file
// decides what is said and the renderers only how it looks.
import { studentTQuantile } from '../analysis/stats.ts';
import { formatWithUncertainty } from '../analysis/usl.ts';
import type { CapacityPlanJson } from './capacity-json.ts';
import { type LineSeries, lineChart, type PointMark } from './charts/line-chart.ts';
import { type LegendItem, MUTED, short, variantColors } from './charts/svg.ts';
import type { Table } from './format.ts';
import type { JsonReport } from './json.ts';

type Series = CapacityPlanJson['series'][number];
type Fit = Series['fit'];
type Coefficient = NonNullable<Fit['alpha']>;
type Range = NonNullable<NonNullable<CapacityPlanJson['sizing']>['models'][number]['replicas']>;

function n3(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return Math.abs(x) >= 100 ? String(Math.round(x)) : String(Number(x.toPrecision(3)));
}

/** "0.031 ± 0.025 (s.e. 0.011)", "0 (at bound)", "≈ 0 (pinned)", "120 (from N = 1)". */
export function coefficientText(c: Coefficient | undefined): string {
  if (c === undefined) return '–';
  if (c.pinned) return '≈ 0 (not distinguishable from 0: fitted without it)';
  const half = c.lower !== undefined && c.upper !== undefined ? (c.upper - c.lower) / 2 : undefined;
  const value = half === undefined ? n3(c.value) : formatWithUncertainty(c.value, half);
  const se = c.standardError !== undefined ? ` (s.e. ${n3(c.standardError)})` : '';
  const notes = [c.atBound ? `at its ${c.atBound} bound` : undefined, c.fixed ? 'from the N = 1 trials' : undefined]
    .filter(Boolean)
    .join(', ');
  return `${value}${se}${notes ? ` [${notes}]` : ''}`;
}

function peakText(fit: Fit): string {
  const p = fit.peak;
  if (!p) return '–';
  if (p.kind === 'finite') {
    // The same t(df) interval as the coefficients (and describeUsl's sentence).
    const level = fit.alpha?.level ?? 0.95;
    const t = fit.degreesOfFreedom ? studentTQuantile(1 - (1 - level) / 2, fit.degreesOfFreedom) : Number.NaN;
    const se = p.nStandardError && Number.isFinite(t) ? ` ± ${n3(t * p.nStandardError)}` : '';
    return `N* ≈ ${n3(p.n)}${se} (${n3(p.throughput)} req/s)${p.beyondMeasured ? ', beyond the measured N' : ''}`;
  }
  return p.asymptote !== undefined ? `none (approaches γ/α = ${n3(p.asymptote)} req/s)` : 'none (linear)';
}

/** One row per series: the fit's coefficients, or why there is none. */
export function uslTable(plan: CapacityPlanJson): Table {
  return {
    headers: [
      'variant',
      'model',
      'CPU',
      'workers measured',
      'γ (req/s per worker)',
      'α contention',
      'β coherency',
      'peak',
      'R²',
    ],
    align: ['left', 'left', 'right', 'left', 'left', 'left', 'left', 'left', 'right'],
    rows: plan.series.map((s) => {
      const head = [s.label, s.model, s.cpu, s.points.map((p) => p.workers).join(', ') || '–'];
      if (!s.fit.fittable) return [...head, `no fit: ${s.fit.reason}`, '–', '–', '–', '–'];
      return [
        ...head,
        coefficientText(s.fit.gamma),
        coefficientText(s.fit.alpha),
        coefficientText(s.fit.beta),
        peakText(s.fit),
        n3(s.fit.rSquared),
      ];
    }),
  };
}

/** Measured points beside the fit: capacity with its interval, the prediction, the residual. */
export function uslPointsTable(s: Series): Table {
  const fitted = s.fit.fittable ? s.fit.residuals : undefined;
  return {
    headers: ['workers', 'measured capacity, req/s', 'trials', 'USL predicts', 'mean residual'],
    align: ['right', 'right', 'right', 'right', 'right'],
    rows: s.points.map((p) => {
      // A t interval of a few trials can reach below 0; capacity cannot.
      const ci = p.lower !== undefined && p.upper !== undefined ? ` (${n3(Math.max(0, p.lower))}–${n3(p.upper)})` : '';
      const mine = fitted?.filter((r) => r.n === p.workers) ?? [];
      const predicted = mine[0]?.predicted;
      const residual = mine.length ? mine.reduce((a, r) => a + r.residual, 0) / mine.length : undefined;
      return [
        String(p.workers),
        `${p.lowerBound ? '≥ ' : ''}${n3(p.capacity)}${ci}`,
        String(p.trials),
        n3(predicted),
        // Below a thousandth of the capacity a residual is rounding: an exact fit, shown as 0.
        residual === undefined
          ? '–'
          : Math.abs(residual) < 1e-3 * Math.max(1, p.capacity)
            ? '0'
            : `${residual > 0 ? '+' : ''}${n3(residual)}`,
      ];
    }),
  };
}

function rangeText(r: Range | undefined, format: (v: number) => string = n3): string {
  if (!r || r.expected === undefined) return '–';
  const lo = Math.min(r.optimistic ?? r.expected, r.pessimistic ?? Number.POSITIVE_INFINITY);
  const hi = Math.max(r.optimistic ?? r.expected, r.pessimistic ?? Number.POSITIVE_INFINITY);
  const show = (v: number) => (Number.isFinite(v) ? format(v) : '∞');
  return lo === hi ? format(r.expected) : `${format(r.expected)} (${show(lo)}–${show(hi)})`;
}

const mib = (bytes: number) => `${Math.ceil(bytes / 1048576)}Mi`;

/** The sizing answer per series: workers, CPU and memory per pod, replicas and CPU in all, as ranges. */
export function sizingTable(plan: CapacityPlanJson): Table | undefined {
  const sizing = plan.sizing;
  if (!sizing) return undefined;
  return {
    headers: [
      'variant',
      'workers/pod',
      'CPU/pod',
      'memory/pod',
      'capacity/pod, req/s',
      'replicas',
      'CPU in all',
      'memory in all',
    ],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    rows: sizing.models.map((m) => {
      if (!m.sizable) return [m.model, '–', '–', '–', '–', `not sizable: ${m.reason ?? ''}`, '–', '–'];
      const c = m.capacityPerPod;
      const capacity = c ? `${c.lowerBound ? '≥ ' : ''}${n3(c.mean)} (${n3(c.lower)}–${n3(c.upper)})` : '–';
      return [
        m.model,
        String(m.workersPerPod ?? '–'),
        n3(m.cpuCoresPerPod),
        m.memoryBytesPerPod === undefined ? '–' : mib(m.memoryBytesPerPod),
        capacity,
        rangeText(m.replicas, (v) => String(v)),
        rangeText(m.totalCpuCores),
        rangeText(m.totalMemoryBytes, mib),
      ];
    }),
  };
}

/** The arithmetic and notes behind the sizing table, then the comparison; or why there is none. */
export function sizingLines(plan: CapacityPlanJson): string[] {
  const sizing = plan.sizing;
  if (!sizing) return [plan.sizingMissing ?? 'no sizing answer'];
  const out: string[] = [];
  const t = sizing.target;
  out.push(
    `Target: ${n3(t.requestsPerSecond)} req/s${t.headroom > 0 ? ` + ${Math.round(t.headroom * 100)}% headroom = ${n3(t.plannedRequestsPerSecond)} req/s` : ''}${t.slo ? ` within ${t.slo}` : ''}, at least ${t.minReplicas} replica(s). Ranges are pessimistic–optimistic, from the 95% interval of capacity per pod.`,
  );
  for (const m of sizing.models) {
    if (!m.sizable) continue;
    out.push(`${m.model}: ${m.arithmetic.join('; ')}${m.notes.length ? `. Note: ${m.notes.join('; ')}` : ''}`);
  }
  out.push(sizing.summary);
  return out;
}

/** "Contention α and coherency β: ..." sentences, one per series (describeUsl, from the fitted numbers). */
export function uslSentences(plan: CapacityPlanJson): string[] {
  return plan.series.map((s) => s.description);
}

const USL_EXPLAINED =
  'Universal Scalability Law, X(N) = γN / (1 + α(N−1) + βN(N−1)), fitted per variant by weighted nonlinear least squares over every trial’s searched capacity: γ is one worker’s throughput, α contention (work that serialises: locks, a GIL, one acceptor), β coherency (the pairwise cost of keeping workers consistent: shared caches between threads, IPC and duplicated memory between processes); peak N* = √((1−α)/β). ± are 95% intervals.';

export interface CapacityRenderers {
  table(table: Table): string;
  heading(text: string, level: 2 | 3): string;
  paragraph(text: string): string;
}

/** The sections as blocks of a text format (Markdown, terminal); empty without a plan. */
export function capacityBlocks(report: JsonReport, r: CapacityRenderers): string[] {
  const plan = report.capacityPlan;
  if (!plan) return [];
  const out: string[] = [];
  if (plan.series.length > 0) {
    out.push(r.heading('Scalability (USL fit per variant)', 2));
    out.push(r.paragraph(USL_EXPLAINED));
    out.push(r.table(uslTable(plan)));
    for (const sentence of uslSentences(plan)) out.push(r.paragraph(sentence));
    for (const s of plan.series) {
      out.push(r.heading(`${s.label}: measured against fitted`, 3));
      out.push(r.table(uslPointsTable(s)));
    }
  }
  out.push(r.heading(`Sizing${plan.sizing ? ` for ${n3(plan.sizing.target.requestsPerSecond)} req/s` : ''}`, 2));
  const table = sizingTable(plan);
  if (table) out.push(r.table(table));
  for (const line of sizingLines(plan)) out.push(r.paragraph(line));
  return out;
}

/** The fitted curve (with its band) and the measured trials of every series, as one SVG chart. */
export function uslChart(plan: CapacityPlanJson): string | undefined {
  if (plan.series.length === 0) return undefined;
  const colors = variantColors(plan.series.map((s) => s.label));
  const series: LineSeries[] = [];
  const points: PointMark[] = [];
  const legendItems: LegendItem[] = [];
  const maxMeasured = Math.max(1, ...plan.series.flatMap((s) => s.points.map((p) => p.workers)));
  for (const s of plan.series) {
    const color = colors.get(s.label) ?? MUTED;
    legendItems.push({
      label: `${s.label}: ${s.fit.fittable ? 'USL fit' : `no fit (${s.fit.reason})`}`,
      color,
      kind: s.fit.fittable ? 'line' : 'dot',
    });
    if (s.fit.fittable && s.fit.curve) {
      const curve = s.fit.curve.filter((c) => c.n <= 2 * maxMeasured);
      series.push({ name: `${s.label} fit`, color, points: curve.map((c) => [c.n, c.throughput]) });
      series.push({
        name: `${s.label} band low`,
        color,
        faint: true,
        dashed: true,
        points: curve.map((c) => [c.n, Math.max(0, c.lower)]),
      });
      series.push({
        name: `${s.label} band high`,
        color,
        faint: true,
        dashed: true,
        points: curve.map((c) => [c.n, c.upper]),
      });
    }
    for (const p of s.points) {
      for (const v of p.values) {
        points.push({
          x: p.workers,
          y: v,
          color,
          hollow: p.lowerBound,
          title: `${p.name}: ${short(v)} req/s${p.lowerBound ? ' (at least)' : ''}`,
        });
      }
    }
  }
  return lineChart({
    id: 'usl-fit',
    title: 'Capacity against workers: measured trials (dots) and the USL fit with its 95% band',
    x: { label: 'workers per pod (N)', format: short },
    y: { label: 'capacity, req/s', format: short },
    series,
    points,
    legend: legendItems,
  });
}

export interface CapacityHtml {
  table(table: Table): string;
  escape(text: string): string;
}

/** The sections as HTML: the chart, the tables, the sentences; empty without a plan. */
export function capacityHtml(report: JsonReport, h: CapacityHtml): string {
  const plan = report.capacityPlan;
  if (!plan) return '';
  const p = (text: string) => `<p>${h.escape(text)}</p>`;
  const out: string[] = ['<section id="capacity">'];
  if (plan.series.length > 0) {
    out.push('<h2>Scalability (USL fit per variant)</h2>');
    out.push(p(USL_EXPLAINED));
    const chart = uslChart(plan);
    if (chart) out.push(`<figure>${chart}</figure>`);
    out.push(h.table(uslTable(plan)));
    for (const sentence of uslSentences(plan)) out.push(p(sentence));
    for (const s of plan.series) {
      out.push(`<h3>${h.escape(s.label)}: measured against fitted</h3>`);
      out.push(h.table(uslPointsTable(s)));
    }
  }
  out.push(`<h2>Sizing${plan.sizing ? ` for ${h.escape(n3(plan.sizing.target.requestsPerSecond))} req/s` : ''}</h2>`);
  const table = sizingTable(plan);
  if (table) out.push(h.table(table));
  for (const line of sizingLines(plan)) out.push(p(line));
  out.push('</section>');
  return out.join('\n');
}
