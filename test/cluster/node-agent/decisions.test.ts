// The node agent's pure decisions, as tables: image map, env resolution and path mapping,
// restart policy and back-off, pod phase, probe thresholds.

import type { V1Container, V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { containerArgv, imageRepository, resolveImage } from './image-map.ts';
import { EnvError, mapArg, mapEnv, mountPathMap, resolveEnv } from './pod-env.ts';
import { type ContainerView, podPhase, restartDelayMillis, shouldRestart } from './pod-status.ts';
import { type ProbeSettings, probeSettings, stepProbe } from './probe.ts';

for (const [image, repo] of [
  ['conclab/conclab:0.1.0', 'conclab/conclab'],
  ['registry.example:5000/conclab/conclab:0.1.0', 'registry.example:5000/conclab/conclab'],
  ['conclab/workload-node@sha256:abc', 'conclab/workload-node'],
  ['grafana/k6', 'grafana/k6'],
] as const) {
  test(`image ${image} has repository ${repo}`, (t) => t.is(imageRepository(image), repo));
}

test('conclab images map to this checkout’s entrypoints with the container args after them', (t) => {
  const r = resolveImage('some.registry/conclab/conclab:9.9.9', { nodePath: '/n' });
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(containerArgv(r.image, undefined, ['load', '--targets', 'x']).slice(-3), ['load', '--targets', 'x']);
  t.is(containerArgv(r.image, undefined, [])[0], '/n');
  t.regex(containerArgv(r.image, undefined, [])[1] ?? '', /operator\/cli\/conclab\.js$/);
  const w = resolveImage('conclab/workload-node:0.1.0', { nodePath: '/n' });
  t.true(w.ok && /workloads\/node\/main\.ts$/.test(w.image.entrypoint[1] ?? ''));
  t.deepEqual(w.ok ? containerArgv(w.image, ['/bin/true'], ['a']) : [], ['/bin/true', 'a'], 'command replaces');
});

test('k6 runs only where a k6 binary is on PATH; other images are refused with the reason', (t) => {
  const k6 = resolveImage('grafana/k6:1.4.2', { pathEnv: '/nonexistent' });
  t.false(k6.ok);
  t.regex(k6.ok ? '' : k6.reason, /needs a k6 binary and there is none on PATH/);
  const other = resolveImage('nginx:1');
  t.regex(other.ok ? '' : other.reason, /image nginx:1 is not one this test node agent can run/);
});

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u-1', labels: { app: 'x' } },
  spec: { nodeName: 'n1', containers: [] },
};

test('env resolves values, $(VAR) references, downward API fields and Secret/ConfigMap keys in order', (t) => {
  const c: V1Container = {
    name: 'c',
    env: [
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'URL', value: 'http://$(IP):8080 $$(IP)' },
      { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'token' } } },
      { name: 'CM', valueFrom: { configMapKeyRef: { name: 'm', key: 'k' } } },
    ],
  };
  const env = resolveEnv(
    pod,
    c,
    { podIP: '127.9.9.2', hostIP: '127.0.0.1' },
    { secret: (n, k) => (n === 's' && k === 'token' ? 'sekret' : undefined), configMap: () => 'v' },
  );
  t.deepEqual(env, {
    IP: '127.9.9.2',
    URL: 'http://127.9.9.2:8080 $(IP)',
    NAME: 'p',
    NS: 'ns',
    APP: 'x',
    TOKEN: 'sekret',
    CM: 'v',
  });
});

test('a missing Secret key is an EnvError naming it (kubelet: CreateContainerConfigError)', (t) => {
  const c: V1Container = {
    name: 'c',
    env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'gone', key: 'token' } } }],
  };
  const err = t.throws(
    () => resolveEnv(pod, c, { podIP: '', hostIP: '' }, { secret: () => undefined, configMap: () => undefined }),
    { instanceOf: EnvError },
  );
  t.regex(err?.message ?? '', /secret "gone" \(key "token"\) not found for env T/);
});

test('paths under a mount are mapped in args and env; other text is left alone', (t) => {
  const map = mountPathMap(
    {
      name: 'c',
      volumeMounts: [
        { name: 'results', mountPath: '/results' },
        { name: 'script', mountPath: '/scripts/' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
    (v) => `/local/${v}`,
  );
  t.is(mapArg('/scripts/script.js', map), '/local/script/script.js');
  t.is(mapArg('--summary=/results/summary.json', map), '--summary=/local/results/summary.json');
  t.is(mapArg('/results', map), '/local/results');
  t.is(mapArg('/resultsx/y', map), '/resultsx/y', 'only on a path boundary');
  t.is(mapArg('run', map), 'run');
  t.deepEqual(mapEnv({ OUT: '/results/a', X: 'b' }, map), { OUT: '/local/results/a', X: 'b', TMPDIR: '/local/tmp' });
});

for (const [policy, code, restart] of [
  ['Always', 0, true],
  ['Always', 1, true],
  ['OnFailure', 0, false],
  ['OnFailure', 137, true],
  ['Never', 1, false],
] as const) {
  test(`restartPolicy ${policy} ${restart ? 'restarts' : 'does not restart'} a container that exited ${code}`, (t) =>
    t.is(shouldRestart(policy, code), restart));
}

test('back-off: the first restart is immediate, then it doubles up to the cap', (t) => {
  t.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((n) => restartDelayMillis(n, 10_000, 300_000)),
    [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000],
  );
});

const terminated = (exitCode: number, finished: boolean): ContainerView => ({
  name: 'c',
  image: 'i',
  imageID: '',
  state: {
    kind: 'terminated',
    terminated: { exitCode, reason: '', startedAt: '', finishedAt: '', containerID: '' },
  },
  restartCount: 0,
  ready: false,
  finished,
});
const running: ContainerView = {
  name: 'c',
  image: 'i',
  imageID: '',
  state: { kind: 'running', startedAt: '', containerID: '' },
  restartCount: 0,
  ready: true,
  finished: false,
};
const creating: ContainerView = { ...running, state: { kind: 'waiting', reason: 'ContainerCreating' }, ready: false };

for (const [what, view, phase] of [
  ['nothing started yet', { initContainers: [], containers: [creating] }, 'Pending'],
  ['a container running', { initContainers: [], containers: [running] }, 'Running'],
  ['all exited 0 for good', { initContainers: [], containers: [terminated(0, true)] }, 'Succeeded'],
  [
    'one exited non-zero for good',
    { initContainers: [], containers: [terminated(0, true), terminated(2, true)] },
    'Failed',
  ],
  ['exited but restarting', { initContainers: [], containers: [terminated(2, false)] }, 'Running'],
  ['an init container still running', { initContainers: [running], containers: [creating] }, 'Pending'],
  ['an init container failed for good', { initContainers: [terminated(1, true)], containers: [creating] }, 'Failed'],
  ['init done, container running', { initContainers: [terminated(0, true)], containers: [running] }, 'Running'],
  [
    'fatal (image not runnable)',
    { initContainers: [], containers: [creating], fatal: { reason: 'r', message: 'm' } },
    'Failed',
  ],
] as const) {
  test(`pod phase with ${what} is ${phase}`, (t) => {
    t.is(podPhase({ restartPolicy: 'Always', ...view } as unknown as Parameters<typeof podPhase>[0]), phase);
  });
}

test('probe settings take the kubelet’s defaults and resolve named ports', (t) => {
  const s = probeSettings({ httpGet: { path: '/readyz', port: 'admin' } }, {
    name: 'c',
    ports: [{ name: 'admin', containerPort: 8081 }],
  } as V1Container);
  t.like(s, { path: '/readyz', port: 8081, periodMillis: 10_000, timeoutMillis: 1000, failureThreshold: 3 });
  t.throws(() => probeSettings({ exec: { command: ['true'] } }, { name: 'c' }), { message: /only httpGet probes/ });
});

test('readiness needs successThreshold successes and is lost after failureThreshold failures', (t) => {
  const s = { successThreshold: 2, failureThreshold: 2 } as ProbeSettings;
  let state = { healthy: false, successes: 0, failures: 0 };
  const seen: boolean[] = [];
  for (const ok of [true, true, false, true, false, false, true]) {
    state = stepProbe(state, ok, s);
    seen.push(state.healthy);
  }
  t.deepEqual(seen, [false, true, true, true, true, false, false]);
});
