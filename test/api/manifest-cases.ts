// Whole manifests, as a user writes them (YAML text, not objects), that the CLI and the API
// server must judge alike: the hostile inputs of issue 12 and the YAML 1.1 spellings kubectl
// reads differently from YAML 1.2. validate.test.ts checks the CLI's verdict on each;
// apiserver.test.ts sends each through the real kubectl to a real kube-apiserver and compares.

export interface ManifestCase {
  name: string;
  /** The manifest text (a function for the large ones, built when the test runs). */
  text: string | (() => string);
  /** Whether a valid ConcurrencyExperiment: the CLI and the API server both accept it. */
  valid: boolean;
  /** Fields the CLI blames (for invalid manifests), in file order. */
  paths?: string[];
  /** For valid ones: what the spec must hold after reading (kubectl's reading, not YAML 1.2's). */
  expect?: (spec: Record<string, unknown>) => unknown;
  /** For valid ones: the value `expect` must return. */
  equals?: unknown;
}

interface Parts {
  meta?: string;
  workload?: string;
  resources?: string;
  variants?: string;
  load?: string;
  extra?: string;
}

/** A manifest from its sections; each defaults to a valid one (the quickstart, shortened). */
export function manifest(parts: Parts = {}): string {
  return `apiVersion: conclab.dev/v1alpha1
kind: ConcurrencyExperiment
metadata:
  name: hostile
${parts.meta ?? ''}spec:
  workload:
${parts.workload ?? '    profile: cpu\n    cpuTime: 5ms\n'}  resources:
${parts.resources ?? '    cpu: "1"\n    memory: 512Mi\n'}  variants:
${parts.variants ?? '    - name: processes\n      model: process\n      workers: 4\n    - name: threads\n      model: thread\n      workers: 4\n'}  load:
${parts.load ?? '    rate: 120\n    duration: 10s\n'}${parts.extra ?? ''}`;
}

/** A manifest as an item of a YAML list under `items:`. */
const listItem = (text: string) =>
  `${text
    .trimEnd()
    .split('\n')
    .map((line, i) => `${i === 0 ? '  - ' : '    '}${line}`)
    .join('\n')}\n`;
const ramp = (stages: string) => `    pattern: ramping-arrival-rate\n    stages:\n${stages}`;
const workersOf = (first: string) =>
  `    - name: processes\n      model: process\n      workers: ${first}\n    - name: threads\n      model: thread\n      workers: 4\n`;
const variant0 = (spec: Record<string, unknown>) => (spec['variants'] as Array<Record<string, unknown>>)[0];
const tracing = (spec: Record<string, unknown>) => (spec['tracing'] as Record<string, unknown>)['enabled'];
const loadOf = (spec: Record<string, unknown>) => spec['load'] as Record<string, unknown>;

export const manifestCases: ManifestCase[] = [
  { name: 'the base manifest is valid', text: manifest(), valid: true },
  // Issue 12: values a run cannot execute.
  {
    name: 'duration: 0s',
    text: manifest({ load: '    rate: 120\n    duration: 0s\n' }),
    valid: false,
    paths: ['spec.load.duration'],
  },
  {
    name: 'timeout: 0s',
    text: manifest({ load: '    rate: 120\n    duration: 10s\n    timeout: 0s\n' }),
    valid: false,
    paths: ['spec.load.timeout'],
  },
  {
    name: 'a ramp stage of 0s',
    text: manifest({ load: ramp('      - duration: 0s\n        target: 100\n') }),
    valid: false,
    paths: ['spec.load.stages[0].duration'],
  },
  {
    name: 'cpu: "1e1000"',
    text: manifest({ resources: '    cpu: "1e1000"\n    memory: 512Mi\n' }),
    valid: false,
    paths: ['spec.resources.cpu'],
  },
  {
    name: 'duration: 1ms',
    text: manifest({ load: '    rate: 120\n    duration: 1ms\n' }),
    valid: false,
    paths: ['spec.load.duration'],
  },
  {
    name: 'a ramp to 0',
    text: manifest({ load: ramp('      - duration: 10s\n        target: 0\n') }),
    valid: false,
    paths: ['spec.load.stages'],
  },
  {
    name: 'SLO percentiles out of order (p50 > p99)',
    text: manifest({ extra: '  slo:\n    latency:\n      p50: 200ms\n      p99: 50ms\n' }),
    valid: false,
    paths: ['spec.slo.latency.p99'],
  },
  {
    name: 'a fault at 0s',
    text: manifest({ extra: '  faults:\n    - kind: exit\n      at: 0s\n' }),
    valid: false,
    paths: ['spec.faults[0].at'],
  },
  {
    name: 'duration: 9999999999999h',
    text: manifest({ load: '    rate: 120\n    duration: 9999999999999h\n' }),
    valid: false,
    paths: ['spec.load.duration'],
  },
  {
    name: 'a fault at 9999999999999h (once a CEL conversion error on the server)',
    text: manifest({ extra: '  faults:\n    - kind: exit\n      at: 9999999999999h\n' }),
    valid: false,
    paths: ['spec.faults[0].at'],
  },
  {
    name: 'memory too small to start 4 Node.js worker processes',
    text: manifest({ resources: '    cpu: "1"\n    memory: 128Mi\n' }),
    valid: false,
    paths: ['spec.resources.memory'],
  },
  {
    name: 'annotations over 256 KiB in total',
    text: () => manifest({ meta: `  annotations:\n    big: "${'x'.repeat(300 * 1024)}"\n` }),
    valid: false,
    paths: ['metadata.annotations'],
  },
  {
    name: 'a manifest over 1.5 MiB (labels) is refused unread',
    text: () =>
      manifest({
        meta: `  labels:\n${Array.from({ length: 80_000 }, (_, i) => `    l${i}: value-${i}\n`).join('')}`,
      }),
    valid: false,
    paths: [''],
  },
  {
    name: 'a name of 64 characters',
    text: manifest().replace('name: hostile', `name: ${'x'.repeat(64)}`),
    valid: false,
    paths: ['metadata.name'],
  },
  // YAML 1.1 as kubectl reads it: the same values on both sides.
  {
    name: 'workers: 010 is 8 (octal), as kubectl reads it',
    text: manifest({ variants: workersOf('010') }),
    valid: true,
    expect: (spec) => variant0(spec)?.['workers'],
    equals: 8,
  },
  {
    name: 'workers: 0o10 is 8 too',
    text: manifest({ variants: workersOf('0o10') }),
    valid: true,
    expect: (spec) => variant0(spec)?.['workers'],
    equals: 8,
  },
  {
    name: 'workers: 08 is 8 (a float to go-yaml, an integer in JSON)',
    text: manifest({ variants: workersOf('08') }),
    valid: true,
    expect: (spec) => variant0(spec)?.['workers'],
    equals: 8,
  },
  {
    name: 'enabled: off is false',
    text: manifest({ extra: '  tracing:\n    enabled: off\n' }),
    valid: true,
    expect: tracing,
    equals: false,
  },
  {
    name: 'enabled: yes is true',
    text: manifest({ extra: '  tracing:\n    enabled: yes\n' }),
    valid: true,
    expect: tracing,
    equals: true,
  },
  {
    name: 'enabled: n is false',
    text: manifest({ extra: '  tracing:\n    enabled: n\n' }),
    valid: true,
    expect: tracing,
    equals: false,
  },
  {
    name: 'rate: 1_000 is 1000',
    text: manifest({ load: '    rate: 1_000\n    duration: 10s\n' }),
    valid: true,
    expect: (spec) => loadOf(spec)['rate'],
    equals: 1000,
  },
  {
    name: 'rate: 1e3 is 1000',
    text: manifest({ load: '    rate: 1e3\n    duration: 10s\n' }),
    valid: true,
    expect: (spec) => loadOf(spec)['rate'],
    equals: 1000,
  },
  {
    name: 'a duplicate key: the later value wins',
    text: manifest({ load: '    rate: 120\n    duration: 10s\n    rate: 130\n' }),
    valid: true,
    expect: (spec) => loadOf(spec)['rate'],
    equals: 130,
  },
  {
    name: 'rate: 1.5 is not an integer',
    text: manifest({ load: '    rate: 1.5\n    duration: 10s\n' }),
    valid: false,
    paths: ['spec.load.rate'],
  },
  {
    name: 'rate: .inf cannot be sent as JSON',
    text: manifest({ load: '    rate: .inf\n    duration: 10s\n' }),
    valid: false,
    paths: [''],
  },
  {
    name: 'a label value yes is a boolean, not a string',
    text: manifest({ meta: '  labels:\n    canary: yes\n' }),
    valid: false,
    paths: ['metadata.labels.canary'],
  },
  {
    name: 'a label value that is no label value',
    text: manifest({ meta: '  labels:\n    team: "platform team"\n' }),
    valid: false,
    paths: ['metadata.labels.team'],
  },
  {
    name: 'an unknown metadata field',
    text: manifest({ meta: '  colour: blue\n' }),
    valid: false,
    paths: ['metadata.colour'],
  },
  {
    name: 'data nested 2000 levels deep (kubectl reads it; no field of an experiment takes it)',
    text: manifest({ load: `    rate: 120\n    duration: 10s\n    extra: ${'['.repeat(2000)}${']'.repeat(2000)}\n` }),
    valid: false,
    paths: [''],
  },
  {
    name: 'a document separator followed by content',
    text: `${manifest()}--- {}\n`,
    valid: false,
    paths: [''],
  },
  {
    name: 'a List of two experiments, one invalid',
    text: `apiVersion: v1\nkind: List\nitems:\n${listItem(manifest())}${listItem(
      manifest({ load: '    rate: 120\n    duration: 0s\n' }).replace('name: hostile', 'name: second'),
    )}`,
    valid: false,
    paths: ['items[1].spec.load.duration'],
  },
  {
    name: 'a List of experiments without their own apiVersion and kind',
    text: `apiVersion: conclab.dev/v1alpha1\nkind: ConcurrencyExperimentList\nitems:\n${listItem(
      manifest().split('\n').slice(2).join('\n'),
    )}`,
    valid: true,
  },
];
