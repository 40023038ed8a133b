// How the load spread over the workers: each worker's share of the spans (or, without spans,
// each replica's share of the requests) against the even share, one strip per variant. A
// kernel that routes connections unevenly (SO_REUSEPORT hashing) shows here as uneven bars.
import { max } from 'd3-array';
import { scaleBand, scaleLinear } from 'd3-scale';
import type { JsonReport } from '../json.ts';
import { type Colors, escapeXml, f, frame, MUTED, short } from './svg.ts';

interface Strip {
  variant: string;
  label: string;
  shares: { id: string; percent: number }[];
  note: string;
}

function strips(report: JsonReport): Strip[] {
  return report.variants.flatMap((v): Strip[] => {
    const spread = v.workerSpread;
    if (spread && spread.perWorker.length > 0) {
      const shares = spread.perWorker.map((w) => ({ id: w.worker, percent: w.sharePercent }));
      // Workers that served nothing are part of the spread too.
      for (
        let i = shares.length;
        i < v.workers * (report.config.variants.find((c) => c.name === v.name)?.replicas ?? 1);
        i++
      ) {
        shares.push({ id: `(${i})`, percent: 0 });
      }
      return [
        {
          variant: v.name,
          label: 'share of spans per worker',
          shares,
          note: `CV ${short(spread.cv)} (sampling alone: ${short(spread.samplingNoiseCv)})`,
        },
      ];
    }
    const perReplica = report.trials.filter((t) => t.variant === v.name).map((t) => t.requestsPerReplica ?? []);
    const replicas = Math.max(0, ...perReplica.map((r) => r.length));
    if (replicas < 2) return [];
    const totals = Array.from({ length: replicas }, (_, i) => perReplica.reduce((n, r) => n + (r[i] ?? 0), 0));
    const sum = totals.reduce((a, b) => a + b, 0);
    return [
      {
        variant: v.name,
        label: 'share of requests per replica',
        shares: totals.map((n, i) => ({ id: `r${i}`, percent: sum > 0 ? (n / sum) * 100 : 0 })),
        note: 'server-side counts',
      },
    ];
  });
}

export function spreadChart(report: JsonReport, colors: Colors): string | undefined {
  const all = strips(report);
  if (all.length === 0) return undefined;
  const width = 1040;
  const stripHeight = 70;
  const top = 34;
  const left = 200;
  const right = 230;
  const parts: string[] = [];
  const yMax = Math.max(10, (max(all.flatMap((s) => s.shares.map((x) => x.percent))) ?? 0) * 1.15);
  all.forEach((s, i) => {
    const y0 = top + i * (stripHeight + 14);
    const x = scaleBand<string>()
      .domain(s.shares.map((w) => w.id))
      .range([left, width - right])
      .padding(0.2);
    const y = scaleLinear()
      .domain([0, yMax])
      .range([y0 + stripHeight, y0]);
    const c = colors.get(s.variant) ?? '#333';
    parts.push(
      `<text x="${f(left - 10)}" y="${f(y0 + 16)}" class="tick" text-anchor="end" font-weight="600">${escapeXml(s.variant)}</text>`,
    );
    parts.push(
      `<text x="${f(left - 10)}" y="${f(y0 + 32)}" class="tick" text-anchor="end">${escapeXml(s.label)}</text>`,
    );
    parts.push(`<line x1="${left}" x2="${f(width - right)}" y1="${f(y(0))}" y2="${f(y(0))}" class="axis"/>`);
    for (const w of s.shares) {
      const bx = x(w.id) ?? left;
      parts.push(
        `<rect x="${f(bx)}" y="${f(y(w.percent))}" width="${f(x.bandwidth())}" height="${f(Math.max(0.5, y(0) - y(w.percent)))}" fill="${c}" class="mark"><title>${escapeXml(`${s.variant} ${w.id}: ${short(w.percent)}%`)}</title></rect>`,
      );
      if (s.shares.length <= 24) {
        parts.push(
          `<text x="${f(bx + x.bandwidth() / 2)}" y="${f(y(0) + 12)}" class="tick" text-anchor="middle">${escapeXml(w.id)}</text>`,
        );
      }
    }
    const even = 100 / Math.max(1, s.shares.length);
    parts.push(
      `<line x1="${left}" x2="${f(width - right)}" y1="${f(y(even))}" y2="${f(y(even))}" stroke="${MUTED}" stroke-dasharray="5 3"/><text x="${f(width - right + 6)}" y="${f(y(even) + 4)}" class="marker-label" fill="#555">even share ${short(even)}%</text>`,
    );
    parts.push(`<text x="${f(width - right + 6)}" y="${f(y0 + stripHeight)}" class="tick">${escapeXml(s.note)}</text>`);
  });
  const height = top + all.length * (stripHeight + 14) + 10;
  return frame({
    id: 'worker-spread',
    title: 'Load per worker: share of the work each one served, against an even share',
    width,
    height,
    body: parts.join('\n'),
  });
}
