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
