// Pure: workload events from two successive polls of a supervisor's GET /stats (the load pod
// polls the variant's admin endpoints during its run). The operator cannot see inside a
// container; the supervisor can, so worker exits and replacements come from its stats, and a
// container restart shows as the admin endpoint going away and coming back with a new pid.
import type { WorkloadEvent } from '../../engine/records.ts';

export interface SupervisorStats {
  pid: number;
  ready: boolean;
  workers: { worker: number; pid?: number | null; alive: boolean; serving?: boolean; replacedCount: number }[];
}

/** A poll: the stats, or 'down' when the admin endpoint did not answer. */
export type Poll = SupervisorStats | 'down';

export function eventsFromStats(
  previous: Poll | undefined,
  next: Poll,
  atMillis: number,
  replica: number,
): WorkloadEvent[] {
  const tag = (detail: string) => `replica ${replica}: ${detail}`;
  if (previous === undefined) return [];
  if (next === 'down') {
    return previous === 'down' ? [] : [{ atMillis, kind: 'not-ready', detail: tag('admin endpoint not answering') }];
  }
  if (previous === 'down') {
    const events: WorkloadEvent[] = [{ atMillis, kind: 'process-restart', detail: tag(`back with pid ${next.pid}`) }];
    if (next.ready) events.push({ atMillis, kind: 'ready', detail: tag('ready') });
    return events;
  }
  const events: WorkloadEvent[] = [];
  if (previous.pid !== next.pid) {
    events.push({ atMillis, kind: 'process-restart', detail: tag(`pid ${previous.pid} -> ${next.pid}`) });
  }
  for (const w of next.workers) {
    const before = previous.workers.find((p) => p.worker === w.worker);
    if (!before) continue;
    if (before.alive && !w.alive)
      events.push({ atMillis, kind: 'worker-exit', worker: w.worker, detail: tag('exited') });
    if (w.replacedCount > before.replacedCount) {
      events.push({ atMillis, kind: 'worker-replaced', worker: w.worker, detail: tag(`now pid ${w.pid ?? '?'}`) });
    }
  }
  if (previous.ready && !next.ready) {
    // The supervisor answered, so the process is up: readiness fell because a worker died or
    // stopped serving. Name that worker; a not-ready without a worker means the whole process
    // (container) went down, and blast-radius analysis counts it as a restart.
    const culprit = next.workers.find((w) => !w.alive) ?? next.workers.find((w) => w.serving === false);
    events.push({
      atMillis,
      kind: 'not-ready',
      worker: culprit?.worker ?? -1,
      detail: tag(culprit ? `not ready: worker ${culprit.worker} not serving` : 'not ready, process up'),
    });
  }
  if (!previous.ready && next.ready) events.push({ atMillis, kind: 'ready', detail: tag('ready') });
  return events;
}
