// Pure: when a scheduled experiment runs next. CronJob semantics with concurrencyPolicy
// Forbid and no catch-up storm: a run is due at the most recent cron tick after the last
// run's tick (or after the experiment was created) that is not in the future; never while a
// run is in progress; ticks missed meanwhile (a long run, an operator outage) start ONE run
// afterwards, not one per tick. The reconcile never sleeps: it requeues for the next tick.
import { CronExpressionParser } from 'cron-parser';

export interface ScheduleInput {
  /** Five-field cron expression, evaluated in UTC. */
  schedule: string;
  /** metadata.creationTimestamp: ticks before it never start a run. */
  createdMillis: number;
  /** status.lastScheduleTime: the tick the latest run was started for. */
  lastScheduleMillis?: number;
  /** A run is Pending/Running/Analyzing: nothing starts until it ends. */
  runInProgress: boolean;
  nowMillis: number;
}

export interface ScheduleDecision {
  /** Start a run for this tick now (its lastScheduleTime). */
  startRunForTickMillis?: number;
  /** The first tick after now. */
  nextTickMillis: number;
  /** Reconcile again at the next tick even if nothing else happens. */
  requeueAfterMillis: number;
}

/** The latest tick <= atMillis, or undefined when the expression has none (it always has, in practice). */
export function latestTickAtOrBefore(schedule: string, atMillis: number): number | undefined {
  // prev() is strictly before currentDate; one millisecond later includes a tick exactly at atMillis.
  const it = CronExpressionParser.parse(schedule, { currentDate: new Date(atMillis + 1), tz: 'UTC' });
  try {
    return it.prev().getTime();
  } catch {
    return undefined;
  }
}

export function nextTickAfter(schedule: string, atMillis: number): number {
  return CronExpressionParser.parse(schedule, { currentDate: new Date(atMillis), tz: 'UTC' })
    .next()
    .getTime();
}

export function decideSchedule(input: ScheduleInput): ScheduleDecision {
  const { schedule, nowMillis } = input;
  const nextTickMillis = nextTickAfter(schedule, nowMillis);
  const requeueAfterMillis = Math.max(1, nextTickMillis - nowMillis);
  if (input.runInProgress) return { nextTickMillis, requeueAfterMillis };
  const since = input.lastScheduleMillis ?? input.createdMillis;
  const latest = latestTickAtOrBefore(schedule, nowMillis);
  if (latest !== undefined && latest > since)
    return { startRunForTickMillis: latest, nextTickMillis, requeueAfterMillis };
  return { nextTickMillis, requeueAfterMillis };
}
