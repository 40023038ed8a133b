// The machine as the supervisor sees it, for the report's environment section. Read once.
import { existsSync } from 'node:fs';
import os from 'node:os';
import type { SupervisorStats } from '../../operator/contracts/supervisor.ts';
import { detectCgroupVersion } from './cgroup-usage.ts';

export type HostFacts = SupervisorStats['host'];

export function readHostFacts(cgroupRoot: string): HostFacts {
  return {
    hostname: os.hostname(),
    // sched_getaffinity: the CPUs this process may run on, not the machine's count.
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() || 'unknown',
    kernel: os.release(),
    cgroupVersion: detectCgroupVersion(cgroupRoot, existsSync),
    runtime: `node ${process.versions.node}`,
  };
}
