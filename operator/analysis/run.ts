// What analysis reads: one finished (or partial) run of an experiment, as both placements
// assemble it from their trial records (engine/assemble.ts), plus the machine it ran on.
// Analysis and reports are pure functions of this.
import type { ConcurrencyExperiment } from '../api/schema.ts';
import type { TrialRecord } from '../contracts/records.ts';

/** The machine(s) and tools, recorded with every report. */
export interface Environment {
  toolVersion: string;
  hostname: string;
  /** CPUs of the machine the workloads ran on (before conclab pinned anything). */
  cores: number;
  cpuModel: string;
  kernel: string;
  cgroupVersion: 'v1' | 'v2' | 'none' | 'kubernetes';
  runtimeVersions: Record<string, string>;
  runtime: string;
  warnings: string[];
  /** Container images the variants ran (with digests where known); cluster runs. */
  images?: string[];
}

export interface ExperimentRun {
  experiment: ConcurrencyExperiment;
  environment: Environment;
  startedAt: string;
  endedAt: string;
  trials: TrialRecord[];
  /** True when the run stopped early (Ctrl-C, crash); the report says so. */
  partial: boolean;
}
