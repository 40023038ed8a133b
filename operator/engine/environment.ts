// The machine a run happened on, recorded with every report: results from a 2-core VM and
// a 64-core host are not comparable, and a reader must be able to tell which is which.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Environment } from '../analysis/run.ts';

export function toolVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function describeEnvironment(opts: {
  runtime: string;
  cgroupVersion: Environment['cgroupVersion'];
  warnings: string[];
  extraVersions?: Record<string, string>;
}): Environment {
  const cpus = os.cpus();
  return {
    toolVersion: toolVersion(),
    hostname: os.hostname(),
    // The machine's CPUs, not this process's affinity: conclab pins its load generator, and
    // a reader must see the machine the figures come from.
    cores: cpus.length || os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    cgroupVersion: opts.cgroupVersion,
    runtimeVersions: { node: process.versions.node, v8: process.versions.v8, ...opts.extraVersions },
    runtime: opts.runtime,
    warnings: [...opts.warnings],
  };
}
