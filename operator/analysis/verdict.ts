// The verdict: per dimension, a winner only when the difference is significant, and the
// one-line answer for status and printer columns. Pure: summaries in, words and rows out.
//
// Each dimension compares the best variant with the runner-up (one test per dimension, so
// no correction for many comparisons is needed for two variants; with more, the pairing is
// chosen by the data and the p-value is slightly optimistic — the report says which pair).
import type { VariantResult, Verdict } from '../api/schema.ts';
import { type ClientMode, clientTrials } from './client-trials.ts';
import { describeTrialsNeeded, type TrialsNeeded, trialsNeeded } from './power.ts';
import { fisherExact, mannWhitneyU, mean, type TestResult, welchTTest } from './stats.ts';
import type { VariantSummary } from './variant-summary.ts';

export type Dimension = 'throughput' | 'p99' | 'errorRate' | 'memory' | 'blastRadius';

export interface DimensionVerdict {
  dimension: Dimension;
  label: string;
  better: 'higher' | 'lower';
  unit: string;
  /** Per variant: the value compared (mean over trials, or pooled rate) and its sample size. */
  values: { variant: string; value: number; n: number }[];
  leader: string | undefined;
  runnerUp: string | undefined;
  /** Set only when the leader is significantly better than the runner-up. */
  winner: string | undefined;
  test: TestResult['test'] | undefined;
  pValue: number | undefined;
  /** Mann-Whitney p, checked once both variants have 4+ trials; must agree for a winner. */
  rankTestPValue: number | undefined;
  /** False when significance cannot be assessed (one trial, or no data). */
  assessable: boolean;
  significant: boolean;
  /** Leader against runner-up, in percent of the runner-up. */
  deltaPercent: number | undefined;
  /**
   * Not significant: the trials per variant Welch's t-test would need to detect the observed
   * difference (80% power at alpha), from the observed means and variances.
   */
  trialsNeeded?: TrialsNeeded;
  statement: string;
}

export interface VerdictOptions {
  /** Significance level; 0.05 by default. */
  alpha?: number;
}

export interface VerdictResult {
  dimensions: DimensionVerdict[];
  verdict: Verdict;
  results: VariantResult[];
  /** True when every variant served what it was offered: throughput cannot separate them. */
  throughputBoundByOfferedLoad: boolean;
}

/** "p=0.004", "p<0.001". */
export function formatP(p: number): string {
  if (p < 0.001) return 'p<0.001';
  return `p=${p < 0.01 ? p.toFixed(3) : p.toFixed(2)}`;
}

/** "+23%", "-40%", "0%". */
export function formatDelta(percent: number): string {
  const rounded = Math.round(percent);
  if (rounded === 0)
    return Math.abs(percent) < 0.05 ? '0%' : `${percent > 0 ? '+' : '-'}${Math.abs(percent).toFixed(1)}%`;
  return `${rounded > 0 ? '+' : ''}${rounded}%`;
}

interface Samples {
  variant: string;
  values: number[];
}

function compareTrials(
  dimension: Dimension,
  label: string,
  unit: string,
  better: 'higher' | 'lower',
  samples: Samples[],
  alpha: number,
  /** When set, statements show both values ("25% vs 100%") instead of a relative delta. */
  formatValue?: (value: number) => string,
): DimensionVerdict {
  const withData = samples.filter((s) => s.values.length > 0);
  const values = withData.map((s) => ({ variant: s.variant, value: mean(s.values), n: s.values.length }));
  const base = {
    dimension,
    label,
    better,
    unit,
    values,
    winner: undefined,
    test: undefined,
    pValue: undefined,
    rankTestPValue: undefined,
    significant: false,
  };
  if (withData.length < 2) {
    return {
      ...base,
      leader: undefined,
      runnerUp: undefined,
      assessable: false,
      deltaPercent: undefined,
      statement: `${label}: not measured for two variants`,
    };
  }
  const sign = better === 'higher' ? -1 : 1;
  const ranked = [...withData].sort((a, b) => sign * (mean(a.values) - mean(b.values)));
  const leader = ranked[0] as Samples;
  const runnerUp = ranked[1] as Samples;
  const lm = mean(leader.values);
  const rm = mean(runnerUp.values);
  const deltaPercent = rm === 0 ? (lm === 0 ? 0 : undefined) : ((lm - rm) / Math.abs(rm)) * 100;
  const deltaText = formatValue
    ? ` ${formatValue(lm)} vs ${formatValue(rm)} for`
    : deltaPercent === undefined
      ? ''
      : ` ${formatDelta(deltaPercent)}`;
  const against = formatValue ? '' : ' against';
  const common = { ...base, leader: leader.variant, runnerUp: runnerUp.variant, deltaPercent };
  if (leader.values.length < 2 || runnerUp.values.length < 2) {
    return {
      ...common,
      assessable: false,
      statement: `${label}: ${leader.variant}${deltaText}${against} ${runnerUp.variant}, but with ${Math.min(leader.values.length, runnerUp.values.length)} trial(s) significance cannot be assessed`,
    };
  }
  const welch = welchTTest(leader.values, runnerUp.values);
  const rank =
    leader.values.length >= 4 && runnerUp.values.length >= 4 ? mannWhitneyU(leader.values, runnerUp.values) : undefined;
  const significant = lm !== rm && welch.pValue < alpha && (rank === undefined || rank.pValue < alpha);
  const disagreement = welch.pValue < alpha && rank !== undefined && rank.pValue >= alpha;
  const needed = significant ? undefined : trialsNeeded(leader.values, runnerUp.values, { alpha });
  const neededText = needed ? `; ${describeTrialsNeeded(needed)}` : '';
  const statement = significant
    ? `${label}: ${leader.variant}${deltaText}${against} ${runnerUp.variant} (${formatP(welch.pValue)})`
    : disagreement
      ? `${label}: no robust difference (Welch ${formatP(welch.pValue)}, but the rank test gives ${formatP(rank?.pValue ?? 1)})`
      : `${label}: no significant difference (${formatP(welch.pValue)})${neededText}`;
  return {
    ...common,
    ...(needed ? { trialsNeeded: needed } : {}),
    winner: significant ? leader.variant : undefined,
    test: welch.test,
    pValue: welch.pValue,
    rankTestPValue: rank?.pValue,
    assessable: true,
    significant,
    statement,
  };
}

interface FailureCounts {
  name: string;
  failed: number;
  scheduled: number;
  rate: number;
}

function compareErrorRates(counts: readonly FailureCounts[], alpha: number): DimensionVerdict {
  const withData = counts.filter((s) => s.scheduled > 0);
  const values = withData.map((s) => ({ variant: s.name, value: s.rate, n: s.scheduled }));
  const base = {
    dimension: 'errorRate' as const,
    label: 'error rate',
    better: 'lower' as const,
    unit: '%',
    values,
    winner: undefined,
    rankTestPValue: undefined,
    significant: false,
  };
  if (withData.length < 2) {
    return {
      ...base,
      leader: undefined,
      runnerUp: undefined,
      test: undefined,
      pValue: undefined,
      assessable: false,
      deltaPercent: undefined,
      statement: 'error rate: not measured for two variants',
    };
  }
  const ranked = [...withData].sort((a, b) => a.rate - b.rate);
  const leader = ranked[0] as FailureCounts;
  const runnerUp = ranked[1] as FailureCounts;
  const common = { ...base, leader: leader.name, runnerUp: runnerUp.name };
  if (leader.failed === 0 && runnerUp.failed === 0) {
    return {
      ...common,
      test: undefined,
      pValue: undefined,
      assessable: true,
      deltaPercent: 0,
      statement: 'error rate: no failed requests in either variant',
    };
  }
  const fisher = fisherExact(
    leader.failed,
    leader.scheduled - leader.failed,
    runnerUp.failed,
    runnerUp.scheduled - runnerUp.failed,
  );
  const significant = fisher.pValue < alpha && leader.rate < runnerUp.rate;
  const pct = (r: number) => `${(r * 100).toFixed(r < 0.001 ? 3 : 2)}%`;
  const deltaPercent = runnerUp.rate === 0 ? undefined : ((leader.rate - runnerUp.rate) / runnerUp.rate) * 100;
  return {
    ...common,
    winner: significant ? leader.name : undefined,
    test: fisher.test,
    pValue: fisher.pValue,
    assessable: true,
    significant,
    deltaPercent,
    statement: significant
      ? `error rate: ${leader.name} ${pct(leader.rate)} against ${runnerUp.name} ${pct(runnerUp.rate)} (Fisher ${formatP(fisher.pValue)})`
      : `error rate: no significant difference (${pct(leader.rate)} vs ${pct(runnerUp.rate)}, Fisher ${formatP(fisher.pValue)})`,
  };
}

function roundPercent(p: number): string {
  return `${Math.round(p)}%`;
}

/** A search's steps in one line: "100 ok, 200 ok, 400 failed, 300 ok" (at most 1 KiB). */
export function describeSteps(steps: readonly { rate: number; passed: boolean; unreliable: boolean }[]): string {
  const text = steps
    .map((st) => `${Math.round(st.rate)} ${st.unreliable ? 'unjudged' : st.passed ? 'ok' : 'failed'}`)
    .join(', ');
  return text.length <= 1024 ? text : `${text.slice(0, 1020)} ...`;
}

/** The API's per-variant rows (status.results). Omits what was not measured. */
export function variantResults(summaries: readonly VariantSummary[]): VariantResult[] {
  return summaries.map((s) => {
    const row: VariantResult = {
      name: s.name,
      throughput: Number.isFinite(s.throughput.mean) ? s.throughput.mean : 0,
      errorRate: s.errors.rate,
    };
    // A variant never measured has no latency (not 0 ms).
    if (s.latency.client.count > 0) {
      row.p50Millis = s.latency.client.p50Millis;
      row.p99Millis = s.latency.client.p99Millis;
    }
    if (s.throughput.ci) row.throughputCI = s.throughput.ci.halfWidth;
    if (s.resources) {
      row.peakMemoryBytes = s.resources.peakMemoryBytes.max;
      row.cpuSeconds = s.resources.cpuSeconds.mean;
      row.throttledSeconds = s.resources.throttledSeconds.mean;
    }
    const br = s.blastRadius;
    if (br && br.measurable > 0) {
      row.capacityLostPercent = br.peakCapacityLostPercent.mean;
      if (br.recoverySeconds) row.recoverySeconds = br.recoverySeconds.mean;
    }
    const restarts = Math.max(s.resources?.restarts ?? 0, br?.restarts ?? 0) + (br?.workersReplaced ?? 0);
    if (s.resources || br) row.restarts = restarts;
    if (s.searchedCapacity && Number.isFinite(s.searchedCapacity.mean)) {
      row.capacity = s.searchedCapacity.mean;
      if (s.searchedCapacity.ci) row.capacityCI = s.searchedCapacity.ci.halfWidth;
      row.search = s.perTrial.flatMap((t) =>
        t.search
          ? [{ trial: t.trial, capacity: t.search.capacity, end: t.search.end, steps: describeSteps(t.search.steps) }]
          : [],
      );
    }
    return row;
  });
}

export function decideVerdict(summaries: readonly VariantSummary[], options: VerdictOptions = {}): VerdictResult {
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`verdict: alpha must be within (0, 1), got ${alpha}`);
  const trialSamples = (pick: (s: VariantSummary) => number[]) =>
    summaries.map((s) => ({ variant: s.name, values: pick(s).filter(Number.isFinite) }));

  // Client-side figures from a saturated load generator describe the generator, not the
  // server: the trials they may use are chosen by the rule regression detection uses too.
  const selection = clientTrials(
    summaries.map((s) => ({ counted: s.trialsCounted, unreliable: s.generator.unreliableTrials })),
  );
  const clientMode = selection.mode;
  const saturatedTrials = selection.saturated;
  const clientTrialsOf = (s: VariantSummary) => {
    const keep = selection.trials[summaries.indexOf(s)] ?? [];
    return s.perTrial.filter((t) => keep.includes(t.trial));
  };
  const clientSamples = (pick: (t: VariantSummary['perTrial'][number]) => number) =>
    summaries.map((s) => ({ variant: s.name, values: clientTrialsOf(s).map(pick).filter(Number.isFinite) }));
  const qualify = (d: DimensionVerdict): DimensionVerdict => {
    if (clientMode === 'sound-only') {
      d.statement += ` (${saturatedTrials} trial(s) with a saturated load generator left out)`;
    } else if (clientMode === 'withheld') {
      d.winner = undefined;
      d.significant = false;
      delete d.trialsNeeded;
      d.statement = `${d.label}: not judged, the load generator was saturated in ${saturatedTrials} trial(s) (figures describe the generator, not the server)`;
    }
    return d;
  };

  const throughput = compareTrials(
    'throughput',
    'throughput',
    'req/s',
    'higher',
    clientSamples((t) => t.throughput),
    alpha,
  );
  // Under an arrival rate every variant can meet, throughput measures the load, not the
  // server: a "winner" there would be noise, so none is named.
  // max-throughput trials run at the rate found as capacity: there it is the measurement.
  const boundByOffered =
    summaries.length > 0 &&
    summaries.every((s) => s.loadPattern !== 'max-throughput') &&
    summaries.every(
      (s) => s.capacity?.measuredKind !== 'capacity' && s.offeredRate > 0 && s.throughput.mean >= 0.97 * s.offeredRate,
    );
  if (boundByOffered) {
    const rate = Math.round(mean(summaries.map((s) => s.offeredRate)));
    throughput.winner = undefined;
    throughput.significant = false;
    delete throughput.trialsNeeded;
    throughput.statement = `throughput: every variant served the offered ${rate} req/s, so throughput does not separate them (raise the rate or use max-throughput)`;
  }
  qualify(throughput);
  const p99 = qualify(
    compareTrials(
      'p99',
      'p99 latency',
      'ms',
      'lower',
      clientSamples((t) => t.latency.p99Millis),
      alpha,
    ),
  );
  const errorRate = qualify(
    compareErrorRates(
      summaries.map((s) => {
        const trials = clientTrialsOf(s);
        const failed = trials.reduce((n, t) => n + t.errors + t.dropped, 0);
        const scheduled = trials.reduce((n, t) => n + t.scheduled, 0);
        return { name: s.name, failed, scheduled, rate: scheduled > 0 ? failed / scheduled : 0 };
      }),
      alpha,
    ),
  );
  const memory = compareTrials(
    'memory',
    'peak memory',
    'bytes',
    'lower',
    trialSamples((s) => s.resources?.peakMemoryBytes.values ?? []),
    alpha,
  );
  const dimensions = [throughput, p99, errorRate, memory];
  const faulted = summaries.filter((s) => s.blastRadius && s.blastRadius.measurable > 0);
  if (faulted.length > 0) {
    dimensions.push(
      compareTrials(
        'blastRadius',
        'capacity lost to the fault',
        '%',
        'lower',
        trialSamples((s) => s.blastRadius?.peakCapacityLostPercent.values ?? []),
        alpha,
        (v) => `${Math.round(v)}%`,
      ),
    );
  }

  const verdict: Verdict = { summary: '' };
  if (throughput.winner) verdict.winner = throughput.winner;
  const leader = summaries.find((s) => s.name === throughput.leader);
  const runnerUp = summaries.find((s) => s.name === throughput.runnerUp);
  if (throughput.deltaPercent !== undefined && leader && runnerUp) {
    const qualifier = throughput.significant
      ? ''
      : clientMode === 'withheld'
        ? ' (unreliable)'
        : boundByOffered
          ? ' (offered load)'
          : throughput.assessable
            ? ' (n.s.)'
            : ' (1 trial)';
    verdict.throughputDelta = `${formatDelta(throughput.deltaPercent)}${qualifier}`;
    const lp = clientTrialsOf(leader).map((t) => t.latency.p99Millis);
    const rp = clientTrialsOf(runnerUp).map((t) => t.latency.p99Millis);
    const rMean = mean(rp);
    if (lp.length > 0 && rp.length > 0 && rMean > 0) {
      const pair = lp.length >= 2 && rp.length >= 2 ? welchTTest(lp, rp) : undefined;
      const p99Qualifier =
        clientMode === 'withheld'
          ? ' (unreliable)'
          : pair === undefined
            ? ' (1 trial)'
            : pair.pValue < alpha
              ? ''
              : ' (n.s.)';
      verdict.p99Delta = `${formatDelta(((mean(lp) - rMean) / rMean) * 100)}${p99Qualifier}`;
    }
  }
  if (faulted.length > 0) {
    verdict.blastRadius = faulted
      .map((s) => `${s.name} ${roundPercent(s.blastRadius?.peakCapacityLostPercent.mean ?? 0)}`)
      .join(' / ');
  }
  const searched = summaries.filter((s) => s.searchedCapacity && Number.isFinite(s.searchedCapacity.mean));
  if (searched.length > 0) {
    verdict.capacity = `${searched.map((s) => `${s.name} ${Math.round(s.searchedCapacity?.mean ?? 0)}`).join(' / ')} req/s`;
  }
  verdict.summary = summarySentence(
    summaries,
    throughput,
    p99,
    errorRate,
    faulted,
    boundByOffered,
    clientMode,
    saturatedTrials,
  );
  return { dimensions, verdict, results: variantResults(summaries), throughputBoundByOfferedLoad: boundByOffered };
}

function summarySentence(
  summaries: readonly VariantSummary[],
  throughput: DimensionVerdict,
  p99: DimensionVerdict,
  errorRate: DimensionVerdict,
  faulted: readonly VariantSummary[],
  boundByOffered: boolean,
  clientMode: ClientMode,
  saturatedTrials: number,
): string {
  const parts: string[] = [];
  const minTrials = Math.min(...summaries.map((s) => s.trials));
  if (summaries.length < 2 || minTrials === 0) return 'Not enough measurements to compare variants.';
  if (clientMode === 'withheld') {
    parts.push(
      `the load generator was saturated in ${saturatedTrials} trial(s), so throughput, latency and errors are not judged (give the generator its own core or lower the rate)`,
    );
  } else if (boundByOffered) {
    parts.push(`every variant served the offered ${Math.round(mean(summaries.map((s) => s.offeredRate)))} req/s`);
  } else if (throughput.winner) {
    parts.push(
      `${throughput.winner} delivered ${Math.round(throughput.deltaPercent ?? 0)}% more throughput than ${throughput.runnerUp} (${formatP(throughput.pValue ?? 1)})`,
    );
  } else if (!throughput.assessable) {
    parts.push(
      `with ${minTrials} trial per variant significance cannot be assessed (${throughput.leader} measured ${formatDelta(throughput.deltaPercent ?? 0)} throughput over ${throughput.runnerUp})`,
    );
  } else {
    parts.push(
      `no significant throughput difference between ${throughput.leader} and ${throughput.runnerUp} (${formatP(throughput.pValue ?? 1)}${throughput.trialsNeeded ? `; ${describeTrialsNeeded(throughput.trialsNeeded)}` : ''})`,
    );
  }
  if (clientMode === 'withheld') {
    // Nothing more to say about client-side figures.
  } else if (p99.winner) {
    parts.push(
      `${p99.winner} had ${Math.round(Math.abs(p99.deltaPercent ?? 0))}% lower p99 latency than ${p99.runnerUp} (${formatP(p99.pValue ?? 1)})`,
    );
  } else if (p99.assessable) {
    parts.push(
      `p99 latency shows no significant difference (${formatP(p99.pValue ?? 1)}${p99.trialsNeeded ? `; ${describeTrialsNeeded(p99.trialsNeeded)}` : ''})`,
    );
  } else if (p99.leader && p99.deltaPercent !== undefined) {
    parts.push(
      `${p99.leader} measured ${Math.round(Math.abs(p99.deltaPercent))}% lower p99 latency than ${p99.runnerUp} in a single trial, too few to assess`,
    );
  }
  if (errorRate.winner) parts.push(`${errorRate.winner} failed fewer requests (${formatP(errorRate.pValue ?? 1)})`);
  if (faulted.length > 0) {
    parts.push(
      `one broken worker cost ${faulted.map((s) => `${s.name} ${roundPercent(s.blastRadius?.peakCapacityLostPercent.mean ?? 0)}`).join(' and ')} of capacity at the worst second${containment(faulted)}`,
    );
  }
  if (clientMode === 'sound-only') {
    parts.push(
      `${saturatedTrials} trial(s) with a saturated load generator were left out of the client-side comparison`,
    );
  }
  const sentence = parts.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

/**
 * Whether the fault stayed in its worker, as measured: the runtime saw the whole process go
 * down (restarts) or it did not. This is the nuance a percentage hides: a JavaScript exception
 * is contained in its worker thread, a native abort or an out-of-memory kill takes the process
 * and with it every thread.
 */
function containment(faulted: readonly VariantSummary[]): string {
  const downed = faulted.filter((s) => (s.blastRadius?.restarts ?? 0) > 0);
  if (downed.length === 0) return ' (the fault stayed in its worker in every variant; no process went down)';
  const contained = faulted.filter((s) => (s.blastRadius?.restarts ?? 0) === 0);
  const took = downed
    .map((s) => `${s.name} in ${s.blastRadius?.restarts}/${s.blastRadius?.measurable} trial(s)`)
    .join(', ');
  return ` (it took the whole process down: ${took}${contained.length > 0 ? `; ${contained.map((s) => s.name).join(', ')} lost only that worker` : ''})`;
}
