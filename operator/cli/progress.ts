// Live progress of a run. On a terminal: one line redrawn in place. Elsewhere (CI logs,
// pipes): a plain line at each trial boundary and every few seconds, so logs stay readable.
import type { EngineEvent } from '../engine/run-experiment.ts';

export interface ProgressOptions {
  write: (text: string) => void;
  isTTY: boolean;
  /** Seconds between plain progress lines when not on a terminal. */
  plainEverySeconds?: number;
  now?: () => number;
}

/** Formats seconds as m:ss. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function createProgress(opts: ProgressOptions): { onEvent: (e: EngineEvent) => void; done: () => void } {
  const now = opts.now ?? Date.now;
  const started = now();
  let lastPlain = 0;
  let drawn = false;
  const every = (opts.plainEverySeconds ?? 5) * 1000;

  const line = (text: string) => {
    if (opts.isTTY) {
      opts.write(`\r\x1b[2K${text}`);
      drawn = true;
    } else opts.write(`${text}\n`);
  };
  const permanent = (text: string) => {
    if (opts.isTTY && drawn) opts.write('\r\x1b[2K');
    drawn = false;
    opts.write(`${text}\n`);
  };

  const onEvent = (e: EngineEvent) => {
    const elapsed = (now() - started) / 1000;
    switch (e.type) {
      case 'trial-start':
        permanent(
          `[${clock(elapsed)}] trial ${e.planned.index + 1}/${e.total}: ${e.planned.variant} #${e.planned.trial} starting`,
        );
        break;
      case 'progress': {
        const p = e.progress;
        const phase = p.measuring ? 'measuring' : 'warming up';
        const total = (e.plan.warmUpMillis + e.plan.durationMillis) / 1000;
        const remaining = total - p.elapsedMillis / 1000;
        const text =
          `[${clock(elapsed)}] ${e.planned.variant} #${e.planned.trial} ${phase} ` +
          `${clock(p.elapsedMillis / 1000)} (${clock(remaining)} left in trial) ` +
          `rate ${Math.round(p.currentRate)}/s sent ${p.sent} ok ${p.completed} err ${p.errors}`;
        if (opts.isTTY) line(text);
        else if (now() - lastPlain >= every) {
          lastPlain = now();
          line(text);
        }
        break;
      }
      case 'fault':
        permanent(
          `[${clock(elapsed)}] fault ${e.fault.kind} injected into ${e.planned.variant} worker ${e.fault.worker}`,
        );
        break;
      case 'trial-end': {
        const l = e.record.load;
        const seconds = Math.max(0.001, (l.endedAtMillis - l.startedAtMillis) / 1000);
        permanent(
          `[${clock(elapsed)}] trial ${e.planned.index + 1}/${e.total}: ${e.planned.variant} #${e.planned.trial} done: ` +
            `${(l.completed / seconds).toFixed(1)} req/s, ${Object.values(l.errors).reduce((a, b) => a + b, 0)} errors` +
            (l.saturation.unreliable ? ` (load generator saturated: ${l.saturation.reason ?? 'see report'})` : ''),
        );
        break;
      }
      case 'warning':
        permanent(`warning: ${e.message}`);
        break;
    }
  };
  return { onEvent, done: () => opts.isTTY && drawn && opts.write('\r\x1b[2K') };
}
