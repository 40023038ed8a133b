// What each variant cost the machine: CPU used and throttled, memory (the cgroup's peak, and
// by process: private, shared, and what RSS counts twice), context switches and run-queue
// wait per request, and for the shared-state profile the cost of one update and the updates
// racy mode lost.
import type { JsonReport } from '../json.ts';
import { type BarPanel, barChart } from './bar-chart.ts';
import { type Colors, MUTED, mib, short } from './svg.ts';

type Variant = JsonReport['variants'][number];
type Estimate = Variant['throughput'];

const color = (colors: Colors, v: Variant) => colors.get(v.name) ?? '#333';
const ci = (e: Estimate | undefined) => (e?.ci ? { lower: e.ci.lower, upper: e.ci.upper } : {});

function trialValues(
  report: JsonReport,
  variant: string,
  pick: (t: JsonReport['trials'][number]) => number | undefined,
) {
  return report.trials
    .filter((t) => t.variant === variant)
    .flatMap((t) => {
      const v = pick(t);
      return v === undefined || !Number.isFinite(v) ? [] : [v];
    });
}

export function cpuChart(report: JsonReport, colors: Colors): string | undefined {
  const measured = report.variants.filter((v) => v.resources);
  if (measured.length === 0) return undefined;
  const panel = (
    title: string,
    pick: (v: Variant) => Estimate | undefined,
    trial: (t: JsonReport['trials'][number]) => number | undefined,
  ): BarPanel => ({
    title,
    xLabel: 's',
    rows: measured.map((v) => {
      const e = pick(v);
      return {
        key: v.name,
        bars: [
          {
            group: title,
            value: e?.mean ?? 0,
            color: color(colors, v),
            ...ci(e),
            dots: trialValues(report, v.name, trial),
          },
        ],
      };
    }),
  });
  return barChart({
    id: 'cpu',
    title: 'CPU used and time throttled by the CFS quota, per trial (warm-up included)',
    panels: [
      panel(
        'CPU used, s',
        (v) => v.resources?.cpuSeconds,
        (t) => t.usage?.cpuSeconds,
      ),
      panel(
        'throttled, s',
        (v) => v.resources?.throttledSeconds,
        (t) => t.usage?.throttledSeconds,
      ),
    ],
  });
}

/**
 * Memory by process: the private part (USS), the variant's share of pages it shares (PSS -
 * USS), and what summing RSS would add by counting shared pages once per process (RSS -
 * PSS). A process model pays the runtime once per worker in USS; threads share one process.
 */
export function memoryChart(report: JsonReport, colors: Colors): string | undefined {
  const withProcesses = report.variants.filter((v) => v.processMemory);
  if (withProcesses.length === 0) return undefined;
  const panels: BarPanel[] = [
    {
      title: 'all processes, end of the window',
      xLabel: 'MiB',
      format: mib,
      divisor: 1048576,
      rows: withProcesses.map((v) => {
        const m = v.processMemory as NonNullable<Variant['processMemory']>;
        const uss = m.ussBytes.mean ?? 0;
        const pss = m.pssBytes.mean ?? 0;
        const rss = m.rssBytes.mean ?? 0;
        const c = color(colors, v);
        return {
          key: v.name,
          bars: [
            {
              group: 'memory',
              value: rss,
              color: c,
              segments: [
                { value: uss, color: c, label: 'private (USS)' },
                { value: Math.max(0, pss - uss), color: c, opacity: 0.45, label: 'shared, its share (PSS - USS)' },
                {
                  value: Math.max(0, rss - pss),
                  color: MUTED,
                  opacity: 0.3,
                  label: 'counted again by RSS (RSS - PSS)',
                },
              ],
              text: `${m.processes} process${m.processes === 1 ? '' : 'es'}`,
              ...(v.resources ? { tick: { value: v.resources.peakMemoryBytes.mean ?? 0, label: 'cgroup peak' } } : {}),
            },
          ],
        };
      }),
    },
    {
      title: 'per worker',
      xLabel: 'MiB',
      format: mib,
      divisor: 1048576,
      rows: withProcesses.map((v) => {
        const m = v.processMemory as NonNullable<Variant['processMemory']>;
        const c = color(colors, v);
        return {
          key: v.name,
          bars: [
            {
              group: 'PSS / worker',
              value: m.perWorkerPssBytes.mean ?? 0,
              color: c,
              opacity: 0.55,
              text: `PSS ${mib(m.perWorkerPssBytes.mean ?? 0)}`,
            },
            {
              group: 'USS / worker',
              value: m.perWorkerUssBytes.mean ?? 0,
              color: c,
              text: `USS ${mib(m.perWorkerUssBytes.mean ?? 0)}`,
            },
          ],
        };
      }),
    },
  ];
  return barChart({
    id: 'memory',
    title:
      'Memory by process (smaps_rollup): private, shared, and what RSS would count twice; black tick: the cgroup peak',
    panels,
    legend: [
      { label: 'private (USS)', color: '#555', kind: 'box' },
      { label: 'its share of shared pages (PSS - USS)', color: '#aaa', kind: 'box' },
      { label: 'counted again by RSS (RSS - PSS)', color: '#ddd', kind: 'box' },
    ],
  });
}

export function contextSwitchChart(report: JsonReport, colors: Colors): string | undefined {
  const measured = report.variants.filter((v) => v.contextSwitches);
  if (measured.length === 0) return undefined;
  const panel = (
    title: string,
    pick: (v: Variant) => Estimate | undefined,
    format?: (x: number) => string,
  ): BarPanel => ({
    title,
    xLabel: title.includes('ms') ? 'ms' : 'switches',
    ...(format ? { format } : {}),
    rows: measured.map((v) => {
      const e = pick(v);
      return {
        key: v.name,
        bars: e ? [{ group: title, value: e.mean ?? 0, color: color(colors, v), ...ci(e), dots: e.values ?? [] }] : [],
      };
    }),
  });
  const panels = [
    panel('voluntary (blocked) per request', (v) => v.contextSwitches?.voluntaryPerRequest),
    panel('involuntary (preempted) per request', (v) => v.contextSwitches?.involuntaryPerRequest),
  ];
  if (measured.some((v) => v.contextSwitches?.runQueueWaitMillisPerRequest)) {
    panels.push(panel('run-queue wait per request, ms', (v) => v.contextSwitches?.runQueueWaitMillisPerRequest));
  }
  return barChart({
    id: 'context-switches',
    title: 'Context switches of every thread of the variant, per request served (dots: trials)',
    panels,
  });
}

export function sharedStateChart(report: JsonReport, colors: Colors): string | undefined {
  const measured = report.variants.filter((v) => v.sharedState?.costMicros);
  if (measured.length === 0) return undefined;
  const panels: BarPanel[] = [
    {
      title: 'cost of one update, us (log)',
      xLabel: 'us',
      scale: 'log',
      rows: measured.map((v) => {
        const c = v.sharedState?.costMicros as NonNullable<NonNullable<Variant['sharedState']>['costMicros']>;
        return {
          key: v.name,
          bars: [
            { group: 'p50', value: c.p50Micros, color: color(colors, v), text: `p50 ${short(c.p50Micros)} us` },
            {
              group: 'p99',
              value: c.p99Micros,
              color: color(colors, v),
              opacity: 0.5,
              text: `p99 ${short(c.p99Micros)} us`,
            },
          ],
        };
      }),
    },
  ];
  if (report.variants.some((v) => v.sharedState?.lostUpdates !== undefined)) {
    panels.push({
      title: `updates lost${report.variants.some((v) => v.sharedState?.racy) ? ' (racy mode)' : ''}`,
      xLabel: 'updates',
      rows: measured.map((v) => ({
        key: v.name,
        bars:
          v.sharedState?.lostUpdates === undefined
            ? []
            : [
                {
                  group: 'lost',
                  value: v.sharedState.lostUpdates,
                  color: color(colors, v),
                  dots: v.sharedState.lostPerTrial,
                  text: `${short(v.sharedState.lostUpdates)}${v.sharedState.attempts ? ` of ${short(v.sharedState.attempts)}` : ''}`,
                },
              ],
      })),
    });
  }
  return barChart({
    id: 'shared-state',
    title: 'Shared state: lock wait + hold (threads) or IPC round trip (processes) per update, from spans',
    panels,
  });
}
