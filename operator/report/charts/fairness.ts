// The fairness evidence: the budget every variant was given, as declared and as read back
// from the kernel in every trial (the cgroup's files, or the pod's), and the health of the
// load generator in every trial. Unequal bars here make every other chart suspect.
import { parseCpuCores, parseMemoryBytes } from '../../api/units.ts';
import type { JsonReport } from '../json.ts';
import { type BarPanel, barChart } from './bar-chart.ts';
import { type Colors, ERROR_COLOR, mib, short } from './svg.ts';

function declared(report: JsonReport): { cpu: number | undefined; memory: number | undefined } {
  const safe = (fn: () => number) => {
    try {
      return fn();
    } catch {
      return undefined;
    }
  };
  return {
    cpu: safe(() => parseCpuCores(report.config.resources.cpu)),
    memory: safe(() => parseMemoryBytes(report.config.resources.memory)),
  };
}

/** Limits read back per trial: from the usage counters' group and from each replica's own report. */
function readBack(report: JsonReport, variant: string, pick: (l: { cpuCores: number; memoryBytes: number }) => number) {
  return report.trials
    .filter((t) => t.variant === variant)
    .flatMap((t) => [
      ...(t.usage ? [pick(t.usage.limits)] : []),
      ...(t.replicas ?? []).flatMap((r) => (r.limits ? [pick(r.limits)] : [])),
    ]);
}

export function fairnessChart(report: JsonReport, colors: Colors): string | undefined {
  const budget = declared(report);
  const panels: BarPanel[] = [];
  const variants = report.variants;
  const cpuRows = variants.map((v) => {
    const values = readBack(report, v.name, (l) => l.cpuCores);
    return {
      key: v.name,
      bars: values.length
        ? [
            {
              group: 'cpu',
              value: Math.max(...values),
              color: colors.get(v.name) ?? '#333',
              dots: values,
              text: `${short(Math.min(...values))}${Math.min(...values) === Math.max(...values) ? '' : `–${short(Math.max(...values))}`} cores`,
            },
          ]
        : [],
    };
  });
  if (cpuRows.some((r) => r.bars.length > 0)) {
    panels.push({
      title: 'CPU limit read back, cores',
      xLabel: 'cores',
      rows: cpuRows,
      ...(budget.cpu ? { refLine: { value: budget.cpu, label: `declared ${report.config.resources.cpu}` } } : {}),
    });
  }
  const memRows = variants.map((v) => {
    const values = readBack(report, v.name, (l) => l.memoryBytes);
    return {
      key: v.name,
      bars: values.length
        ? [
            {
              group: 'memory',
              value: Math.max(...values),
              color: colors.get(v.name) ?? '#333',
              dots: values,
              text: mib(Math.max(...values)),
            },
          ]
        : [],
    };
  });
  if (memRows.some((r) => r.bars.length > 0)) {
    panels.push({
      title: 'memory limit read back',
      xLabel: 'MiB',
      format: mib,
      divisor: 1048576,
      rows: memRows,
      ...(budget.memory
        ? { refLine: { value: budget.memory, label: `declared ${report.config.resources.memory}` } }
        : {}),
    });
  }
  panels.push({
    title: 'load generator: send slip p99, ms',
    xLabel: 'ms',
    rows: variants.map((v) => {
      const trials = report.trials.filter((t) => t.variant === v.name);
      const slips = trials.map((t) => t.generator.sendSlipP99Millis);
      const saturated = trials.filter((t) => t.generator.unreliable).length;
      return {
        key: v.name,
        bars: slips.length
          ? [
              {
                group: 'slip',
                value: Math.max(...slips),
                color: saturated > 0 ? ERROR_COLOR : (colors.get(v.name) ?? '#333'),
                dots: slips,
                text: saturated > 0 ? `${saturated}/${trials.length} saturated` : 'healthy',
              },
            ]
          : [],
      };
    }),
  });
  if (panels.every((p) => p.rows.every((r) => r.bars.length === 0))) return undefined;
  return barChart({
    id: 'fairness',
    title:
      "Fairness: the budget as read back in every trial (dots) against the declared one, and the load generator's health",
    width: 1040,
    panels,
  });
}
