import test from 'ava';
import {
  planSegments,
  type RateSegment,
  rateAtMillis,
  segmentArrivals,
  sendTimesMillis,
  timeOfArrivalInSegment,
  warmUpRate,
} from '../../operator/load/schedule.ts';

const round = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);
const times = (segments: RateSegment[]) => round([...sendTimesMillis(segments)]);

const cases: { name: string; segments: RateSegment[]; expected: number[] }[] = [
  {
    name: 'a constant 10/s for 1 s sends every 100 ms starting at 0',
    segments: [{ durationMillis: 1000, startRate: 10, endRate: 10 }],
    expected: [0, 100, 200, 300, 400, 500, 600, 700, 800, 900],
  },
  {
    name: 'a constant 4/s for 1.1 s sends at 0, 250, 500, 750, 1000',
    segments: [{ durationMillis: 1100, startRate: 4, endRate: 4 }],
    expected: [0, 250, 500, 750, 1000],
  },
  {
    name: 'a ramp 0 -> 8/s over 1 s (4 arrivals) follows t = sqrt(2n/a)',
    segments: [{ durationMillis: 1000, startRate: 0, endRate: 8 }],
    expected: round([0, 1, 2, 3].map((n) => Math.sqrt((2 * n) / 8) * 1000)),
  },
  {
    name: 'a ramp down 8 -> 0/s over 1 s sends densely first',
    segments: [{ durationMillis: 1000, startRate: 8, endRate: 0 }],
    expected: round([0, 1, 2, 3].map((n) => ((8 - Math.sqrt(64 - 16 * n)) / 8) * 1000)),
  },
  {
    name: 'segments chain without losing or doubling a request at the boundary',
    segments: [
      { durationMillis: 500, startRate: 4, endRate: 4 },
      { durationMillis: 500, startRate: 8, endRate: 8 },
    ],
    expected: [0, 250, 500, 625, 750, 875],
  },
  {
    name: 'a zero-rate segment is a pause',
    segments: [
      { durationMillis: 200, startRate: 10, endRate: 10 },
      { durationMillis: 300, startRate: 0, endRate: 0 },
      { durationMillis: 200, startRate: 10, endRate: 10 },
    ],
    expected: [0, 100, 500, 600],
  },
  { name: 'no segments, no requests', segments: [], expected: [] },
];

for (const c of cases) {
  test(`schedule: ${c.name}`, (t) => {
    t.deepEqual(times(c.segments), c.expected);
  });
}

test('schedule: a long ramp sends the integral of its rate, in increasing order', (t) => {
  const segments = [{ durationMillis: 10_000, startRate: 100, endRate: 1100 }];
  const all = [...sendTimesMillis(segments)];
  t.is(all.length, Math.ceil(segmentArrivals(segments[0] as RateSegment)));
  t.true(all.every((x, i) => i === 0 || x > (all[i - 1] as number)));
  t.true((all.at(-1) as number) < 10_000);
});

test('schedule: the time of the n-th arrival in a flat segment is n / rate', (t) => {
  t.is(timeOfArrivalInSegment({ durationMillis: 1000, startRate: 50, endRate: 50 }, 10), 200);
  t.is(timeOfArrivalInSegment({ durationMillis: 1000, startRate: 50, endRate: 50 }, 0), 0);
});

test('schedule: rateAtMillis interpolates within a ramp and is 0 after the end', (t) => {
  const segments = [
    { durationMillis: 1000, startRate: 0, endRate: 100 },
    { durationMillis: 1000, startRate: 100, endRate: 100 },
  ];
  t.is(rateAtMillis(segments, 0), 0);
  t.is(rateAtMillis(segments, 500), 50);
  t.is(rateAtMillis(segments, 1500), 100);
  t.is(rateAtMillis(segments, 2000), 0);
});

test('schedule: warm-up runs at the constant rate, the start rate, or the first non-zero target', (t) => {
  t.is(warmUpRate({ rate: 30 }), 30);
  t.is(warmUpRate({ stages: [{ durationMillis: 1, targetRate: 50 }], startRate: 10 }), 10);
  t.is(
    warmUpRate({
      stages: [
        { durationMillis: 1, targetRate: 0 },
        { durationMillis: 1, targetRate: 70 },
      ],
    }),
    70,
  );
});

test('schedule: a plan becomes warm-up then the stages, ramping from startRate', (t) => {
  t.deepEqual(
    planSegments({
      stages: [
        { durationMillis: 1000, targetRate: 100 },
        { durationMillis: 500, targetRate: 20 },
      ],
      startRate: 10,
      durationMillis: 1500,
      warmUpMillis: 300,
    }),
    [
      { durationMillis: 300, startRate: 10, endRate: 10 },
      { durationMillis: 1000, startRate: 10, endRate: 100 },
      { durationMillis: 500, startRate: 100, endRate: 20 },
    ],
  );
  t.deepEqual(planSegments({ rate: 5, durationMillis: 1000, warmUpMillis: 0 }), [
    { durationMillis: 1000, startRate: 5, endRate: 5 },
  ]);
});
