// The chart's NetworkPolicies and PodDisruptionBudget, rendered by the real helm: who may reach
// the results endpoint and a load pod's OTLP receiver, and a budget only where it helps.
// (This test cluster's CNI does not enforce policies; the real-node e2e checks connectivity.)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { requireClusterBinaries } from '../cluster/binaries.ts';
import { ROOT } from './helpers.ts';

const run = promisify(execFile);

/** A NetworkPolicy as YAML gives it (client-node's model renames `from` to `_from`). */
interface Policy {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: {
    podSelector?: { matchLabels?: Record<string, string> };
    ingress?: {
      ports?: { port: number | string; protocol?: string }[];
      from?: {
        podSelector?: { matchLabels?: Record<string, string> };
        namespaceSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { values?: string[] }[] };
      }[];
    }[];
  };
}

async function render(sets: string[]): Promise<{ kind?: string; metadata?: { name?: string; namespace?: string } }[]> {
  const { helm } = requireClusterBinaries(['helm']);
  const args = ['template', 'conclab', join(ROOT, 'charts', 'conclab'), '--namespace', 'conclab-system'];
  for (const s of sets) args.push('--set', s);
  const { stdout } = await run(helm, args, { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON())
    .filter(Boolean);
}

test('the results endpoint admits only load pods of the watched namespaces, load pods only workload pods, generator pods only load pods', async (t) => {
  const docs = await render(['watchNamespaces={team-a,team-b}']);
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy') as Policy[];
  const operator = policies.find((p) => p.metadata?.namespace === 'conclab-system');
  const from = operator?.spec?.ingress?.[0]?.from?.[0];
  t.deepEqual(from?.podSelector?.matchLabels, { 'conclab.dev/role': 'load' });
  t.deepEqual(from?.namespaceSelector?.matchExpressions?.[0]?.values, ['team-a', 'team-b']);
  const loadPolicies = policies.filter((p) => p.metadata?.name === 'conclab-load-pods');
  t.deepEqual(loadPolicies.map((p) => p.metadata?.namespace).sort(), ['team-a', 'team-b']);
  for (const p of loadPolicies) {
    t.deepEqual(p.spec?.podSelector?.matchLabels, { 'conclab.dev/role': 'load' });
    t.deepEqual(p.spec?.ingress?.[0]?.ports, [{ port: 4318, protocol: 'TCP' }]);
    t.deepEqual(p.spec?.ingress?.[0]?.from?.[0]?.podSelector?.matchLabels, { 'conclab.dev/role': 'workload' });
  }
  const generatorPolicies = policies.filter((p) => p.metadata?.name === 'conclab-generator-pods');
  t.deepEqual(generatorPolicies.map((p) => p.metadata?.namespace).sort(), ['team-a', 'team-b']);
  for (const p of generatorPolicies) {
    t.deepEqual(p.spec?.podSelector?.matchLabels, { 'conclab.dev/role': 'generator' });
    t.deepEqual(p.spec?.ingress?.[0]?.ports, [{ port: 8090, protocol: 'TCP' }]);
    t.deepEqual(
      p.spec?.ingress?.[0]?.from?.[0]?.podSelector?.matchLabels,
      { 'conclab.dev/role': 'load' },
      'generator pods take shares only from load pods',
    );
  }
});

test('networkPolicy.enabled=false renders no policy; metricsFrom adds a source', async (t) => {
  t.false((await render(['networkPolicy.enabled=false'])).some((d) => d.kind === 'NetworkPolicy'));
  const docs = await render(['networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring']);
  const operator = docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata?.namespace === 'conclab-system') as
    | Policy
    | undefined;
  t.deepEqual(operator?.spec?.ingress?.[0]?.from?.[1]?.namespaceSelector?.matchLabels, { team: 'monitoring' });
});

test('a PodDisruptionBudget only with two or more replicas, taking one at a time', async (t) => {
  t.false(
    (await render([])).some((d) => d.kind === 'PodDisruptionBudget'),
    'one replica: a budget would block drains',
  );
  const pdb = (await render(['replicas=2'])).find((d) => d.kind === 'PodDisruptionBudget') as
    | V1PodDisruptionBudget
    | undefined;
  t.is(pdb?.spec?.maxUnavailable, 1);
  t.deepEqual(pdb?.spec?.selector?.matchLabels, {
    'app.kubernetes.io/name': 'conclab',
    'app.kubernetes.io/instance': 'conclab',
  });
});
