import test from 'ava';
import { decideSchedule, latestTickAtOrBefore, nextTickAfter } from '../../operator/controller/schedule.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

// Hourly on the hour; the experiment was created at 00:10.
const hourly = { schedule: '0 * * * *', createdMillis: at('2026-01-01T00:10:00Z') };

const table: {
  name: string;
  lastSchedule?: string;
  runInProgress: boolean;
  now: string;
  start?: string;
  next: string;
}[] = [
  {
    name: 'before the first tick after creation: nothing due',
    runInProgress: false,
    now: '2026-01-01T00:59:59Z',
    next: '2026-01-01T01:00:00.000Z',
  },
  {
    name: 'the first tick after creation is due at that tick',
    runInProgress: false,
    now: '2026-01-01T01:00:00Z',
    start: '2026-01-01T01:00:00.000Z',
    next: '2026-01-01T02:00:00.000Z',
  },
  {
    name: 'a tick before creation never starts a run',
    runInProgress: false,
    now: '2026-01-01T00:30:00Z',
    next: '2026-01-01T01:00:00.000Z',
  },
  {
    name: 'the tick of the last run is not due again',
    lastSchedule: '2026-01-01T01:00:00Z',
    runInProgress: false,
    now: '2026-01-01T01:30:00Z',
    next: '2026-01-01T02:00:00.000Z',
  },
  {
    name: 'the next tick after the last run is due',
    lastSchedule: '2026-01-01T01:00:00Z',
    runInProgress: false,
    now: '2026-01-01T02:00:05Z',
    start: '2026-01-01T02:00:00.000Z',
    next: '2026-01-01T03:00:00.000Z',
  },
  {
    name: 'never while a run is in progress, even with ticks due',
    lastSchedule: '2026-01-01T01:00:00Z',
    runInProgress: true,
    now: '2026-01-01T04:30:00Z',
    next: '2026-01-01T05:00:00.000Z',
  },
  {
    name: 'ticks missed during a run start ONE run afterwards, for the latest tick (no backlog)',
    lastSchedule: '2026-01-01T01:00:00Z',
    runInProgress: false,
    now: '2026-01-01T04:30:00Z',
    start: '2026-01-01T04:00:00.000Z',
    next: '2026-01-01T05:00:00.000Z',
  },
  {
    name: 'an operator down for a day starts one run, not 24',
    lastSchedule: '2026-01-01T01:00:00Z',
    runInProgress: false,
    now: '2026-01-02T01:20:00Z',
    start: '2026-01-02T01:00:00.000Z',
    next: '2026-01-02T02:00:00.000Z',
  },
];

for (const row of table) {
  test(`decideSchedule: ${row.name}`, (t) => {
    const d = decideSchedule({
      ...hourly,
      ...(row.lastSchedule ? { lastScheduleMillis: at(row.lastSchedule) } : {}),
      runInProgress: row.runInProgress,
      nowMillis: at(row.now),
    });
    t.is(iso(d.startRunForTickMillis), row.start);
    t.is(iso(d.nextTickMillis), row.next);
    t.is(d.requeueAfterMillis, at(row.next) - at(row.now), 'requeue for the next tick instead of sleeping');
  });
}

test('cron ticks are evaluated in UTC, a tick exactly at now counts as passed', (t) => {
  t.is(iso(latestTickAtOrBefore('0 3 * * 1', at('2026-11-23T03:00:00Z'))), '2026-11-23T03:00:00.000Z');
  t.is(iso(latestTickAtOrBefore('0 3 * * 1', at('2026-11-23T02:59:59Z'))), '2026-11-16T03:00:00.000Z');
  t.is(iso(nextTickAfter('0 3 * * 1', at('2026-11-23T03:00:00Z'))), '2026-11-30T03:00:00.000Z');
});

test('a schedule that is not a cron expression throws, naming the problem', (t) => {
  t.throws(() => decideSchedule({ ...hourly, schedule: 'every tuesday', runInProgress: false, nowMillis: 0 }));
});
