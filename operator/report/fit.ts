// Fits a JSON report under a byte budget by leaving out bulky per-trial data, least useful
// first, and saying what was left out. A ConfigMap holds at most 1 MiB, and a long
// experiment (many trials of many variants, minutes each) has megabytes of per-second data.
// Every summary, the verdict and the per-variant figures are always kept.
import type { JsonReport } from './json.ts';

/** What fits in a ConfigMap with room for its metadata. */
export const CONFIGMAP_REPORT_BYTES = 900 * 1024;

function size(doc: JsonReport): number {
  return Buffer.byteLength(JSON.stringify(doc), 'utf8');
}

type Step = { what: string; apply: (doc: JsonReport) => void };

/** The first measurable blast radius of each variant stays; its timeline is what reports show. */
function keepFirstTimelines(doc: JsonReport): void {
  const kept = new Set<string>();
  for (const t of doc.trials) {
    for (const b of t.blastRadius) {
      if (b.measurable && !kept.has(t.variant)) kept.add(t.variant);
      else b.timeline = [];
    }
  }
}

const STEPS: Step[] = [
  {
    what: 'per-trial latency histograms (trials.latencyHistogram)',
    apply: (doc) => {
      for (const t of doc.trials) t.latencyHistogram = '';
    },
  },
  { what: 'blast-radius timelines after the first per variant', apply: keepFirstTimelines },
  {
    what: 'per-second series of trials after the third per variant (trials.perSecond)',
    apply: (doc) => {
      const seen = new Map<string, number>();
      for (const t of doc.trials) {
        const n = (seen.get(t.variant) ?? 0) + 1;
        seen.set(t.variant, n);
        if (n > 3) t.perSecond = [];
      }
    },
  },
  {
    what: 'workload events (trials.events)',
    apply: (doc) => {
      for (const t of doc.trials) t.events = [];
    },
  },
  {
    what: 'all per-second series (trials.perSecond)',
    apply: (doc) => {
      for (const t of doc.trials) t.perSecond = [];
    },
  },
  {
    what: 'all blast-radius timelines',
    apply: (doc) => {
      for (const t of doc.trials) for (const b of t.blastRadius) b.timeline = [];
    },
  },
];

/**
 * A copy of the report no larger than maxBytes where possible, with `omitted` naming what
 * was left out. Returns the report unchanged when it fits.
 */
export function fitJsonReport(doc: JsonReport, maxBytes: number = CONFIGMAP_REPORT_BYTES): JsonReport {
  if (!(maxBytes > 0)) throw new RangeError(`fitJsonReport: maxBytes must be positive, got ${maxBytes}`);
  if (size(doc) <= maxBytes) return doc;
  const copy = structuredClone(doc);
  const omitted = [...(copy.omitted ?? [])];
  for (const step of STEPS) {
    step.apply(copy);
    omitted.push(step.what);
    copy.omitted = omitted;
    if (size(copy) <= maxBytes) break;
  }
  return copy;
}
