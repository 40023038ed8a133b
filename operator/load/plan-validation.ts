// A LoadPlan is checked before any socket opens: a bad plan gets an error that names the
// field and the fix, and nothing is started.
import type { LoadPlan } from './types.ts';

export class LoadPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadPlanError';
  }
}

const isNonNegative = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

export function validateLoadPlan(plan: LoadPlan): void {
  const fail = (msg: string): never => {
    throw new LoadPlanError(`invalid load plan: ${msg}`);
  };
  if (!Array.isArray(plan.targets) || plan.targets.length === 0) {
    fail('targets is empty; give the work URL of every replica, such as ["http://127.0.0.1:8080/work"]');
  }
  plan.targets.forEach((target, i) => {
    let url: URL | undefined;
    try {
      url = new URL(target);
    } catch {
      fail(`targets[${i}] ${JSON.stringify(target)} is not a URL; give a full URL such as http://127.0.0.1:8080/work`);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
      fail(`targets[${i}] ${target} must use http: or https:`);
    }
  });
  if (plan.generators !== undefined && !(Number.isInteger(plan.generators) && plan.generators >= 1)) {
    fail(`generators ${plan.generators} must be an integer of 1 or more`);
  }
  const hasRate = plan.rate !== undefined;
  const hasStages = plan.stages !== undefined;
  if (hasRate === hasStages) fail('set exactly one of rate (constant arrival) or stages (ramping arrival)');
  if (hasRate && !(isNonNegative(plan.rate) && plan.rate > 0)) fail(`rate ${plan.rate} must be a number above 0`);
  if (hasStages) {
    const stages = plan.stages ?? [];
    if (stages.length === 0) fail('stages is empty; give at least one stage');
    stages.forEach((s, i) => {
      if (!isNonNegative(s.durationMillis)) fail(`stages[${i}].durationMillis must be 0 or more`);
      if (!isNonNegative(s.targetRate)) fail(`stages[${i}].targetRate must be 0 or more`);
    });
    if (plan.startRate !== undefined && !isNonNegative(plan.startRate)) fail('startRate must be 0 or more');
    const sum = stages.reduce((a, s) => a + s.durationMillis, 0);
    if (Math.abs(sum - plan.durationMillis) > 1) {
      fail(`durationMillis ${plan.durationMillis} differs from the sum of the stages (${sum}); set it to that sum`);
    }
  }
  if (!isNonNegative(plan.durationMillis) || plan.durationMillis === 0) fail('durationMillis must be above 0');
  if (!isNonNegative(plan.warmUpMillis)) fail('warmUpMillis must be 0 or more');
  if (!Number.isInteger(plan.maxInFlight) || plan.maxInFlight < 1) fail('maxInFlight must be an integer of 1 or more');
  if (!isNonNegative(plan.timeoutMillis) || plan.timeoutMillis === 0) fail('timeoutMillis must be above 0');
  if ((plan.generators ?? 1) > plan.maxInFlight) {
    fail(`maxInFlight ${plan.maxInFlight} is below generators ${plan.generators}: each generator needs 1 or more`);
  }
}
