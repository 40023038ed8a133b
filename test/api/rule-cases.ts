// The table of rule cases, shared by rules.test.ts (TypeScript vs a CEL evaluator) and
// apiserver.test.ts (the same cases against a real kube-apiserver with the generated CRD):
// the bounds of every duration and quantity field, and the rules across fields.

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

/** Id of the bound rule of a duration field, such as `spec.load.duration`. */
export const durationBound = (scope: string) => `duration-bounds:${scope}`;
/** Id of the bound rule of a quantity field. */
export const quantityBound = (scope: string) => `quantity-bounds:${scope}`;

const load = (s: Spec) => s.load as Record<string, unknown>;
const ramp = (...stages: Array<[string, number]>) => ({
  pattern: 'ramping-arrival-rate',
  stages: stages.map(([duration, target]) => ({ duration, target })),
});
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
    name: '4 load generators under maxInFlight 4 pass generators-within-max-in-flight',
    edit: (s) => {
      Object.assign(load(s), { generators: 4, maxInFlight: 4 });
    },
    fails: [],
  },
  {
    name: '8 load generators under maxInFlight 4 fail generators-within-max-in-flight',
    edit: (s) => {
      Object.assign(load(s), { generators: 8, maxInFlight: 4 });
    },
    fails: ['generators-within-max-in-flight'],
    paths: ['spec.load.generators'],
  },
  {
    name: '16 load generators under the default maxInFlight pass',
    edit: (s) => {
      load(s)['generators'] = 16;
    },
    fails: [],
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
  {
    name: 'a zero cpuTime below a nanosecond is zero, as Go reads it: cpu-time-positive fails',
    edit: (s) => {
      s.workload.cpuTime = '0.0000001ms';
    },
    fails: ['cpu-time-positive'],
  },
  // Bounds of durations: from the schema, one CEL rule per field.
  {
    name: 'load.duration 0s is too short',
    edit: (s) => {
      load(s)['duration'] = '0s';
    },
    fails: [durationBound('spec.load.duration')],
    paths: ['spec.load.duration'],
  },
  {
    name: 'load.duration 1ms is too short (a trial shorter than a second measures nothing)',
    edit: (s) => {
      load(s)['duration'] = '1ms';
    },
    fails: [durationBound('spec.load.duration')],
  },
  {
    name: 'load.duration 999ms is too short',
    edit: (s) => {
      load(s)['duration'] = '999ms';
    },
    fails: [durationBound('spec.load.duration')],
  },
  {
    name: 'load.duration 0.9999999999s is too short: Go truncates the fraction',
    edit: (s) => {
      load(s)['duration'] = '0.9999999999s';
    },
    fails: [durationBound('spec.load.duration')],
  },
  {
    name: 'load.duration 24h, warmUp 0s and cpuTime 1s are allowed (bounds are inclusive)',
    edit: (s) => {
      load(s)['duration'] = '24h';
      load(s)['warmUp'] = '0s';
      s.workload.cpuTime = '1s';
    },
    fails: [],
  },
  {
    name: 'load.duration 1440.001m is too long',
    edit: (s) => {
      load(s)['duration'] = '1440.001m';
    },
    fails: [durationBound('spec.load.duration')],
  },
  {
    name: 'load.duration 9999999999999h is too long (past what Go and CEL can read)',
    edit: (s) => {
      load(s)['duration'] = '9999999999999h';
    },
    fails: [durationBound('spec.load.duration')],
    paths: ['spec.load.duration'],
  },
  {
    name: 'load.duration of 10 digits of seconds is too long',
    edit: (s) => {
      load(s)['duration'] = '1000000000s';
    },
    fails: [durationBound('spec.load.duration')],
  },
  {
    name: 'leading zeros do not change a duration',
    edit: (s) => {
      load(s)['duration'] = '000000000000010s';
    },
    fails: [],
  },
  {
    name: 'load.timeout 0s is too short',
    edit: (s) => {
      load(s)['timeout'] = '0s';
    },
    fails: [durationBound('spec.load.timeout')],
    paths: ['spec.load.timeout'],
  },
  {
    name: 'load.timeout 10m and an SLO bound of 1ms are allowed',
    edit: (s) => {
      load(s)['timeout'] = '10m';
      s['slo'] = { latency: { p50: '1ms' } };
    },
    fails: [],
  },
  {
    name: 'load.timeout 11m is too long',
    edit: (s) => {
      load(s)['timeout'] = '11m';
    },
    fails: [durationBound('spec.load.timeout')],
  },
  {
    name: 'load.warmUp 2h is too long',
    edit: (s) => {
      load(s)['warmUp'] = '2h';
    },
    fails: [durationBound('spec.load.warmUp')],
  },
  {
    name: 'workload.cpuTime 11s is too long',
    edit: (s) => {
      s.workload.cpuTime = '11s';
    },
    fails: [durationBound('spec.workload.cpuTime')],
  },
  {
    name: 'workload.ioWait 61s is too long',
    edit: (s) => {
      s.workload = { profile: 'io', ioWait: '61s' } as never;
    },
    fails: [durationBound('spec.workload.ioWait')],
  },
  {
    name: 'a ramp stage of 0s is too short',
    edit: (s) => {
      s.load = ramp(['0s', 100]) as never;
    },
    fails: [durationBound('spec.load.stages[].duration')],
    paths: ['spec.load.stages[0].duration'],
  },
  {
    name: 'the second ramp stage is blamed by its index',
    edit: (s) => {
      s.load = ramp(['5s', 100], ['500ms', 10]) as never;
    },
    fails: [durationBound('spec.load.stages[].duration')],
    paths: ['spec.load.stages[1].duration'],
  },
  {
    name: 'stages of 13h each last more than 24h together',
    edit: (s) => {
      s.load = ramp(['13h', 100], ['13h', 100]) as never;
    },
    fails: ['stages-total-duration'],
    paths: ['spec.load.stages'],
  },
  {
    name: 'a ramp to 0 sends nothing: stages-reach-a-rate fails',
    edit: (s) => {
      s.load = ramp(['10s', 0]) as never;
    },
    fails: ['stages-reach-a-rate'],
    paths: ['spec.load.stages'],
  },
  {
    name: 'a ramp down to 0 after a rate above 0 passes',
    edit: (s) => {
      s.load = ramp(['10s', 50], ['10s', 0]) as never;
    },
    fails: [],
  },
  {
    name: 'a fault at 0s is too early: no throughput before the fault to compare with',
    edit: (s) => {
      s['faults'] = [{ kind: 'exit', at: '0s' }];
    },
    fails: [durationBound('spec.faults[].at')],
    paths: ['spec.faults[0].at'],
  },
  {
    name: 'a fault at 9999999999999h is too long, and only that is said (not a CEL error)',
    edit: (s) => {
      s['faults'] = [{ kind: 'exit', at: '9999999999999h' }];
    },
    fails: [durationBound('spec.faults[].at')],
    paths: ['spec.faults[0].at'],
  },
  {
    name: 'SLO percentiles out of order: p99 below p50 fails slo-latency-ordered at p99',
    edit: (s) => {
      s['slo'] = { latency: { p50: '200ms', p99: '50ms' } };
    },
    fails: ['slo-latency-ordered'],
    paths: ['spec.slo.latency.p99'],
  },
  {
    name: 'SLO percentiles that are equal or rise pass, with gaps',
    edit: (s) => {
      s['slo'] = { latency: { p50: '50ms', p90: '50ms', p999: '1s' } };
    },
    fails: [],
  },
  {
    name: 'an SLO bound of 0ms can never be met: too short',
    edit: (s) => {
      s['slo'] = { latency: { p99: '0ms' } };
    },
    fails: [durationBound('spec.slo.latency.p99')],
  },
  // Bounds of quantities, compared exactly as resource.Quantity compares.
  {
    name: 'cpu "10m" is the smallest budget allowed',
    edit: (s) => {
      s.resources.cpu = '10m';
    },
    fails: [],
  },
  {
    name: 'cpu "9m" is below the smallest budget',
    edit: (s) => {
      s.resources.cpu = '9m';
    },
    fails: [quantityBound('spec.resources.cpu')],
    paths: ['spec.resources.cpu'],
  },
  {
    name: 'cpu "9.9999999999m" is 10m: Kubernetes rounds up to whole nano-units',
    edit: (s) => {
      s.resources.cpu = '9.9999999999m';
    },
    fails: [],
  },
  {
    name: 'cpu "64" and "64000m" are the largest budget allowed',
    edit: (s) => {
      s.resources.cpu = '64000m';
    },
    fails: [],
  },
  {
    name: 'cpu "64.000000001" is above the largest budget',
    edit: (s) => {
      s.resources.cpu = '64.000000001';
    },
    fails: [quantityBound('spec.resources.cpu')],
  },
  {
    name: 'cpu "1e1000" is a valid quantity, far above the largest budget',
    edit: (s) => {
      s.resources.cpu = '1e1000';
    },
    fails: [quantityBound('spec.resources.cpu')],
    paths: ['spec.resources.cpu'],
  },
  {
    name: 'cpu "1e4294967297" is 10 cores: Kubernetes cuts the exponent to 32 bits',
    edit: (s) => {
      s.resources.cpu = '1e4294967297';
    },
    fails: [],
  },
  {
    name: 'cpu "1e1.5" fits the pattern but is no quantity',
    edit: (s) => {
      s.resources.cpu = '1e1.5';
    },
    fails: [quantityBound('spec.resources.cpu')],
  },
  {
    name: 'memory "300Gi" is above the largest allowed',
    edit: (s) => {
      s.resources.memory = '300Gi';
    },
    fails: [quantityBound('spec.resources.memory')],
  },
  {
    name: 'memory "16Mi" is below the smallest allowed and too little for the workers',
    edit: (s) => {
      s.resources.memory = '16Mi';
    },
    fails: [quantityBound('spec.resources.memory'), 'memory-to-start'],
  },
  {
    name: 'memory "215Mi" is too little for 4 Node.js worker processes (216Mi)',
    edit: (s) => {
      s.resources.memory = '215Mi';
    },
    fails: ['memory-to-start'],
    paths: ['spec.resources.memory'],
  },
  {
    name: 'memory "216Mi" starts 4 Node.js worker processes',
    edit: (s) => {
      s.resources.memory = '216Mi';
    },
    fails: [],
  },
  {
    name: 'memory "226492415" bytes is one byte short of 216Mi',
    edit: (s) => {
      s.resources.memory = '226492415';
    },
    fails: ['memory-to-start'],
  },
  {
    name: 'memory "32Mi" starts 4 Python worker processes (16Mi + 4 x 4Mi)',
    edit: (s) => {
      s.workload.runtime = 'python';
      s.resources.memory = '32Mi';
    },
    fails: [],
  },
  {
    name: 'memory "64Mi" is too little for 16 Python worker processes (80Mi)',
    edit: (s) => {
      s.workload.runtime = 'python';
      s.resources.memory = '64Mi';
      s.variants[0]!.workers = 16;
    },
    fails: ['memory-to-start'],
  },
  // Cron schedules: the shape and ranges on the API server too.
  {
    name: 'schedule "0 3 * * 1" passes',
    edit: (s) => {
      s['schedule'] = '0 3 * * 1';
    },
    fails: [],
  },
  {
    name: 'schedule "*/15 0-6,22 1 JAN-mar sun" passes',
    edit: (s) => {
      s['schedule'] = '*/15 0-6,22 1 JAN-mar sun';
    },
    fails: [],
  },
  {
    name: 'schedule "61 * * * *" fails cron-shape (minute out of range)',
    edit: (s) => {
      s['schedule'] = '61 * * * *';
    },
    fails: ['cron-shape'],
    paths: ['spec.schedule'],
  },
  {
    name: 'schedule with six fields fails cron-shape (Kubernetes cron has five)',
    edit: (s) => {
      s['schedule'] = '0 0 3 * * 1';
    },
    fails: ['cron-shape'],
  },
  {
    name: 'schedule "@daily" fails cron-shape',
    edit: (s) => {
      s['schedule'] = '@daily   ';
    },
    fails: ['cron-shape'],
  },
  // Capacity sweeps and the sizing target (issue 13).
  {
    name: 'a sweep over workers [1, 2, 4, 8] with max-throughput passes',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 2, 4, 8] };
    },
    fails: [],
  },
  {
    name: 'a sweep with constant-arrival-rate fails sweep-needs-max-throughput',
    edit: (s) => {
      s['sweep'] = { workers: [1, 2] };
    },
    fails: ['sweep-needs-max-throughput'],
    paths: ['spec.sweep'],
  },
  {
    name: 'a target with max-throughput passes; headroom and minReplicas default',
    edit: (s) => {
      maxThroughput(s);
      s['target'] = { rate: 1000 };
    },
    fails: [],
  },
  {
    name: 'a target with constant-arrival-rate fails target-needs-max-throughput',
    edit: (s) => {
      s['target'] = { rate: 1000 };
    },
    fails: ['target-needs-max-throughput'],
    paths: ['spec.target'],
  },
  {
    name: 'sweep workers [1, 4, 2] fail sweep-workers-ascending at the third',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 4, 2] };
    },
    fails: ['sweep-workers-ascending'],
    paths: ['spec.sweep.workers[2]'],
  },
  {
    name: 'sweep workers [2, 2] (a repeat) fail sweep-workers-ascending',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [2, 2] };
    },
    fails: ['sweep-workers-ascending'],
    paths: ['spec.sweep.workers[1]'],
  },
  {
    name: 'sweep workers of 16 ascending values pass (the last pair is checked too)',
    edit: (s) => {
      maxThroughput(s);
      s.resources.memory = '2Gi';
      s['sweep'] = { workers: Array.from({ length: 16 }, (_, i) => i + 1) };
    },
    fails: [],
  },
  {
    name: 'sweep workers whose last pair descends fail sweep-workers-ascending',
    edit: (s) => {
      maxThroughput(s);
      s.resources.memory = '2Gi';
      s['sweep'] = { workers: [...Array.from({ length: 15 }, (_, i) => i + 2), 1] };
    },
    fails: ['sweep-workers-ascending'],
    paths: ['spec.sweep.workers[15]'],
  },
  {
    name: 'sweep cpu ["500m", "1.5", "2"] passes',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 2], cpu: ['500m', '1.5', '2'] };
    },
    fails: [],
  },
  {
    name: 'sweep cpu ["1", "500m"] fails sweep-cpu-ascending',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 2], cpu: ['1', '500m'] };
    },
    fails: ['sweep-cpu-ascending'],
    paths: ['spec.sweep.cpu[1]'],
  },
  {
    name: 'sweep cpu ["500m", "0.5"] is one budget twice and fails sweep-cpu-ascending',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 2], cpu: ['500m', '0.5'] };
    },
    fails: ['sweep-cpu-ascending'],
  },
  {
    name: 'sweep cpu "5m" is below the resources bound and fails its quantity bound',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 2], cpu: ['5m', '1'] };
    },
    fails: [quantityBound('spec.sweep.cpu[]')],
    paths: ['spec.sweep.cpu[0]'],
  },
  {
    name: 'sweep cpu "65" is above the resources bound and fails its quantity bound',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 2], cpu: ['1', '65'] };
    },
    fails: [quantityBound('spec.sweep.cpu[]')],
  },
  {
    name: 'a sweep of 5 variants x 13 worker counts (65 points) fails sweep-points-bounded',
    edit: (s) => {
      maxThroughput(s);
      s.resources.memory = '2Gi';
      s.variants = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, model: 'thread', workers: 1 }));
      s['sweep'] = { workers: Array.from({ length: 13 }, (_, i) => i + 1) };
    },
    fails: ['sweep-points-bounded'],
    paths: ['spec.sweep'],
  },
  {
    name: 'a sweep to 16 Node.js processes needs 688Mi: 512Mi fails memory-to-start though the variants say 4',
    edit: (s) => {
      maxThroughput(s);
      s['sweep'] = { workers: [1, 16] };
    },
    fails: ['memory-to-start'],
    paths: ['spec.resources.memory'],
  },
];

function maxThroughput(s: Spec): void {
  s.load = { pattern: 'max-throughput', rate: 50, duration: '10s' } as never;
}
