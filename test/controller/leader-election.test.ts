import type { V1Lease } from '@kubernetes/client-node';
import test from 'ava';
import { decideLease, leaderElectionProblems } from '../../operator/controller/leader-election.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
function lease(holder: string, renewedMillis: number, durationSeconds = 15): V1Lease {
  return {
    spec: { holderIdentity: holder, renewTime: new Date(renewedMillis), leaseDurationSeconds: durationSeconds },
  };
}

const table: [string, V1Lease | undefined, number, ReturnType<typeof decideLease>['kind']][] = [
  ['no lease yet: create it', undefined, T0, 'create'],
  ['we hold it: renew', lease('me', T0 - 60_000), T0, 'renew'],
  ['another holds it, renewed 5 s ago: wait', lease('other', T0 - 5_000), T0, 'wait'],
  ['another holds it, renewed 14.9 s ago: still wait', lease('other', T0 - 14_900), T0, 'wait'],
  ['another holds it, renewed exactly 15 s ago: take over', lease('other', T0 - 15_000), T0, 'takeover'],
  ['released (empty holder): take over at once', lease('', T0), T0, 'takeover'],
  ['the lease duration on the object wins over ours', lease('other', T0 - 20_000, 30), T0, 'wait'],
];

for (const [name, l, now, expected] of table) {
  test(name, (t) => {
    t.is(decideLease(l, 'me', now, 15_000).kind, expected);
  });
}

test('a waiting candidate retries when the lease would expire', (t) => {
  const action = decideLease(lease('other', T0 - 5_000), 'me', T0, 15_000);
  t.deepEqual(action, { kind: 'wait', holder: 'other', retryAfterMillis: 10_000 });
});

test('timing options must nest: retry < renew deadline < lease duration', (t) => {
  t.deepEqual(
    leaderElectionProblems({ leaseDurationMillis: 15_000, renewDeadlineMillis: 10_000, retryPeriodMillis: 2_000 }),
    [],
  );
  t.regex(
    leaderElectionProblems({
      leaseDurationMillis: 10_000,
      renewDeadlineMillis: 10_000,
      retryPeriodMillis: 2_000,
    }).join(),
    /two leaders could overlap/,
  );
  t.regex(
    leaderElectionProblems({
      leaseDurationMillis: 15_000,
      renewDeadlineMillis: 1_000,
      retryPeriodMillis: 2_000,
    }).join(),
    /renewDeadlineMillis must be > retryPeriodMillis/,
  );
});
