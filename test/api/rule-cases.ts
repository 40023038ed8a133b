// The table of cross-field rule cases, shared by rules.test.ts (TypeScript vs a CEL evaluator)
// and apiserver.test.ts (the same cases against a real kube-apiserver with the generated CRD).

export const base = () => ({
  workload: { runtime: 'node', profile: 'cpu', cpuTime: '5ms' },
  resources: { cpu: '1', memory: '512Mi' },
  variants: [
    { name: 'processes', model: 'process', workers: 4 },
    { name: 'threads', model: 'thread', workers: 4 },
  ],
  load: { pattern: 'constant-arrival-rate', rate: 120, duration: '10s' },
});

export type Spec = ReturnType<typeof base> & Record<string, unknown>;
export interface Case {
  name: string;
  edit(spec: Spec): void;
  /** Ids of the rules that must fail (all others must pass). */
  fails: string[];
  /** Paths the TypeScript check blames. */
  paths?: string[];
}

export const cases: Case[] = [
  { name: 'the base spec passes every rule', edit: () => {}, fails: [] },
  {
    name: 'two variants with one name fail unique-variant-names at the second',
    edit: (s) => {
      s.variants[1]!.name = 'processes';
    },
    fails: ['unique-variant-names'],
    paths: ['spec.variants[1].name'],
  },
  {
    name: 'constant-arrival-rate without rate fails rate-required',
    edit: (s) => {
      delete (s.load as Record<string, unknown>)['rate'];
    },
    fails: ['rate-required'],
    paths: ['spec.load.rate'],
  },
  {
    name: 'max-throughput without rate fails rate-required',
    edit: (s) => {
      s.load = { pattern: 'max-throughput', duration: '10s' } as never;
    },
    fails: ['rate-required'],
  },
  {
    name: 'a missing pattern defaults to constant-arrival-rate, which needs a rate',
    edit: (s) => {
      s.load = { duration: '10s' } as never;
    },
    fails: ['rate-required'],
  },
  {
    name: 'ramping-arrival-rate with stages and no rate passes',
    edit: (s) => {
      s.load = {
        pattern: 'ramping-arrival-rate',
        stages: [
          { duration: '5s', target: 50 },
          { duration: '5s', target: 100 },
        ],
      } as never;
    },
    fails: [],
  },
  {
    name: 'ramping-arrival-rate without stages fails stages-required-with-ramping',
    edit: (s) => {
      s.load = { pattern: 'ramping-arrival-rate' } as never;
    },
    fails: ['stages-required-with-ramping'],
    paths: ['spec.load.stages'],
  },
  {
    name: 'ramping-arrival-rate with a rate fails rate-not-with-ramping',
    edit: (s) => {
      s.load = { pattern: 'ramping-arrival-rate', rate: 10, stages: [{ duration: '5s', target: 50 }] } as never;
    },
    fails: ['rate-not-with-ramping'],
  },
  {
    name: 'stages with constant-arrival-rate fail stages-only-with-ramping',
    edit: (s) => {
      (s.load as Record<string, unknown>)['stages'] = [{ duration: '5s', target: 50 }];
    },
    fails: ['stages-only-with-ramping'],
    paths: ['spec.load.stages'],
  },
  {
    name: 'a fault naming an unknown variant fails fault-variants-exist at that name',
    edit: (s) => {
      s['faults'] = [{ kind: 'abort', at: '5s', variants: ['threads', 'fork'] }];
    },
    fails: ['fault-variants-exist'],
    paths: ['spec.faults[0].variants[1]'],
  },
  {
    name: 'a fault naming existing variants passes',
    edit: (s) => {
      s['faults'] = [{ kind: 'exit', at: '5s', variants: ['threads', 'processes'] }];
    },
    fails: [],
  },
  {
    name: 'a fault at the end of the load fails fault-during-load',
    edit: (s) => {
      s['faults'] = [{ kind: 'abort', at: '10s' }];
    },
    fails: ['fault-during-load'],
    paths: ['spec.faults[0].at'],
  },
  {
    name: 'a fault just before the end of the load passes',
    edit: (s) => {
      s['faults'] = [{ kind: 'abort', at: '9.5s' }];
    },
    fails: [],
  },
  {
    name: 'with ramping, a fault within the sum of the stages passes',
    edit: (s) => {
      s.load = {
        pattern: 'ramping-arrival-rate',
        stages: [
          { duration: '5s', target: 50 },
          { duration: '5s', target: 100 },
        ],
      } as never;
      s['faults'] = [{ kind: 'hang', at: '7s' }];
    },
    fails: [],
  },
  {
    name: 'with ramping, a fault after the sum of the stages fails fault-during-load',
    edit: (s) => {
      s.load = {
        pattern: 'ramping-arrival-rate',
        stages: [
          { duration: '5s', target: 50 },
          { duration: '0.5m', target: 100 },
        ],
      } as never;
      s['faults'] = [{ kind: 'hang', at: '36s' }];
    },
    fails: ['fault-during-load'],
  },
  {
    name: 'racyUpdates with the cpu profile fails racy-updates-only-shared-state',
    edit: (s) => {
      (s.workload as Record<string, unknown>)['racyUpdates'] = true;
    },
    fails: ['racy-updates-only-shared-state'],
    paths: ['spec.workload.racyUpdates'],
  },
  {
    name: 'racyUpdates with the shared-state profile passes',
    edit: (s) => {
      s.workload = { profile: 'shared-state', cpuTime: '2ms', racyUpdates: true } as never;
    },
    fails: [],
  },
  {
    name: 'a zero cpuTime with the cpu profile fails cpu-time-positive',
    edit: (s) => {
      s.workload.cpuTime = '0ms';
    },
    fails: ['cpu-time-positive'],
    paths: ['spec.workload.cpuTime'],
  },
  {
    name: 'a zero cpuTime with the mixed profile fails cpu-time-positive',
    edit: (s) => {
      s.workload = { profile: 'mixed', cpuTime: '0s', ioWait: '10ms' } as never;
    },
    fails: ['cpu-time-positive'],
  },
  {
    name: 'a zero cpuTime with the io profile passes (io does no computation)',
    edit: (s) => {
      s.workload = { profile: 'io', cpuTime: '0ms', ioWait: '50ms' } as never;
    },
    fails: [],
  },
  {
    name: 'the io profile without ioWait fails io-wait-positive',
    edit: (s) => {
      s.workload = { profile: 'io' } as never;
    },
    fails: ['io-wait-positive'],
    paths: ['spec.workload.ioWait'],
  },
];
