// A k6 handleSummary data object as our generated script writes it (shape of k6's summary
// data: metrics with type, contains and values), for the parser and the FAKE k6 tests.
export const handleSummaryData = {
  root_group: { name: '', path: '', id: 'd41d8cd98f00b204e9800998ecf8427e', groups: [], checks: [] },
  options: { summaryTrendStats: ['min', 'med', 'avg', 'max', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'] },
  state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: 35012.3 },
  metrics: {
    http_reqs: { type: 'counter', contains: 'default', values: { count: 10500, rate: 299.9 } },
    'http_reqs{scenario:measure}': {
      type: 'counter',
      contains: 'default',
      values: { count: 9000, rate: 257.1 },
      thresholds: { 'count>=0': { ok: true } },
    },
    'http_req_failed{scenario:measure}': {
      type: 'rate',
      contains: 'default',
      values: { rate: 0.01, passes: 90, fails: 8910 },
      thresholds: { 'rate<=0.01': { ok: true } },
    },
    'http_req_duration{scenario:measure,expected_response:true}': {
      type: 'trend',
      contains: 'time',
      values: {
        min: 1.2,
        med: 4.5,
        avg: 5.1,
        max: 250.3,
        'p(90)': 8.1,
        'p(95)': 10.2,
        'p(99)': 40.5,
        'p(99.9)': 120.7,
        count: 8910,
      },
      thresholds: { 'p(99)<250': { ok: true } },
    },
    'dropped_iterations{scenario:measure}': {
      type: 'counter',
      contains: 'default',
      values: { count: 12, rate: 0.34 },
      thresholds: { 'count>=0': { ok: true } },
    },
    conclab_errors_http5xx: { type: 'counter', contains: 'default', values: { count: 80, rate: 2.3 } },
    conclab_errors_timeout: { type: 'counter', contains: 'default', values: { count: 10, rate: 0.3 } },
    vus_max: { type: 'gauge', contains: 'default', values: { value: 512, min: 512, max: 512 } },
  },
};

/** One request of a generated k6 sample file. */
export interface FixtureRequest {
  scenario: 'warmup' | 'measure';
  /** Epoch ms the request was sent. */
  sentAtMillis: number;
  durationMillis: number;
  status: number;
  /** k6 error code (1050 timeout, 1212 refused, ...), 0 for none. */
  errorCode: number;
  target: number;
}

/** An RFC 3339 time as k6 writes it: nanoseconds and the local offset (here +02:00). */
export function k6Time(epochMillis: number): string {
  const shifted = new Date(epochMillis + 2 * 3600_000);
  const base = shifted.toISOString().slice(0, 19);
  const nanos = Math.round((epochMillis - Math.floor(epochMillis / 1000) * 1000) * 1e6);
  return `${base}.${String(nanos).padStart(9, '0')}+02:00`;
}

/**
 * The lines `k6 run --out json=FILE` writes for these requests and drops, in the format of
 * k6's documentation (results output, JSON): a "Metric" line declares each metric once, then
 * one "Point" line per sample with time, value and tags. Every HTTP request yields points of
 * several metrics (http_reqs, http_req_duration, http_req_blocked, ... as k6 does), and each
 * iteration an `iterations` point, so a parser must pick its metrics out of the others.
 */
export function k6SampleLines(requests: readonly FixtureRequest[], drops: readonly [string, number][] = []): string[] {
  const declared = new Set<string>();
  const lines: string[] = [];
  const point = (metric: string, type: string, contains: string, time: number, value: number, tags: object) => {
    if (!declared.has(metric)) {
      declared.add(metric);
      lines.push(
        JSON.stringify({
          type: 'Metric',
          data: { name: metric, type, contains, thresholds: [], submetrics: null },
          metric,
        }),
      );
    }
    lines.push(JSON.stringify({ type: 'Point', data: { time: k6Time(time), value, tags }, metric }));
  };
  for (const r of requests) {
    const end = r.sentAtMillis + r.durationMillis;
    const ok = r.status >= 200 && r.status < 400 && r.errorCode === 0;
    const tags = {
      expected_response: String(ok),
      group: '',
      method: 'GET',
      name: `http://127.0.0.1:8080/work`,
      proto: 'HTTP/1.1',
      scenario: r.scenario,
      status: String(r.status),
      target: String(r.target),
      url: `http://127.0.0.1:8080/work`,
      ...(r.errorCode ? { error_code: String(r.errorCode) } : {}),
    };
    point('http_reqs', 'counter', 'default', end, 1, tags);
    point('http_req_duration', 'trend', 'time', end, r.durationMillis, tags);
    point('http_req_blocked', 'trend', 'time', end, 0.01, tags);
    point('http_req_waiting', 'trend', 'time', end, r.durationMillis * 0.9, tags);
    point('http_req_failed', 'rate', 'default', end, ok ? 0 : 1, tags);
    point('iterations', 'counter', 'default', end, 1, { group: '', scenario: r.scenario });
  }
  for (const [scenario, at] of drops) point('dropped_iterations', 'counter', 'default', at, 1, { scenario });
  return lines;
}
