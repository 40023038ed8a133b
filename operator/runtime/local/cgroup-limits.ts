// The experiment's one budget as cgroup file writes, and the limits read back from those files.
// Both are pure so the v2 plan (not exercisable on a v1 host) is still tested. The CPU limit
// is a CFS quota over a 100 ms period, as the kubelet sets it for a pod's CPU limit, so a
// local run throttles the way a pod would.

/** The resource budget of one variant, already parsed from Kubernetes quantities. */
export interface Budget {
  /** CPU limit in cores (0.5 for "500m"). */
  cpuCores: number;
  /** Memory limit in bytes. */
  memoryBytes: number;
}

/** CFS period in microseconds; the kubelet's default (--cpu-cfs-quota-period). */
export const CFS_PERIOD_US = 100_000;
/** The kernel rejects quotas below 1 ms. */
export const MIN_CFS_QUOTA_US = 1_000;

/** One write into a group's control file. `controller` picks the v1 hierarchy (v2 has one). */
export interface LimitWrite {
  controller: 'cpu' | 'memory';
  file: string;
  value: string;
}

export function validateBudget(budget: Budget): void {
  if (!Number.isFinite(budget.cpuCores) || budget.cpuCores <= 0) {
    throw new Error(
      `resources.cpu must be a positive number of cores, got ${budget.cpuCores}; write e.g. "500m" or "1"`,
    );
  }
  if (!Number.isSafeInteger(budget.memoryBytes) || budget.memoryBytes < 1024 * 1024) {
    throw new Error(
      `resources.memory must be a whole number of bytes of at least 1Mi, got ${budget.memoryBytes}; write e.g. "256Mi"`,
    );
  }
}

export function cfsQuotaUs(cpuCores: number): number {
  return Math.max(MIN_CFS_QUOTA_US, Math.round(cpuCores * CFS_PERIOD_US));
}

export interface PresentFiles {
  /** v1: memory.memsw.limit_in_bytes exists (swap accounting on); v2: memory.swap.max exists. */
  swapLimit: boolean;
}

/**
 * The writes, in an order the kernel accepts on a fresh group: the period before the quota,
 * and on v1 the memory limit before memsw (memsw must never be below the memory limit).
 * Swap is limited to zero so a variant cannot dodge its memory limit by swapping.
 */
export function limitWrites(version: 'v1' | 'v2', budget: Budget, present: PresentFiles): LimitWrite[] {
  validateBudget(budget);
  const quota = String(cfsQuotaUs(budget.cpuCores));
  const memory = String(budget.memoryBytes);
  if (version === 'v2') {
    const writes: LimitWrite[] = [
      { controller: 'cpu', file: 'cpu.max', value: `${quota} ${CFS_PERIOD_US}` },
      { controller: 'memory', file: 'memory.max', value: memory },
    ];
    if (present.swapLimit) writes.push({ controller: 'memory', file: 'memory.swap.max', value: '0' });
    return writes;
  }
  const writes: LimitWrite[] = [
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CFS_PERIOD_US) },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: quota },
    { controller: 'memory', file: 'memory.limit_in_bytes', value: memory },
  ];
  // memsw = memory limit means "memory + swap <= limit", i.e. no swap at all.
  if (present.swapLimit) writes.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: memory });
  return writes;
}

/** Limits as read back, for the fairness check across variants. */
export interface ReadLimits {
  cpuCores: number;
  memoryBytes: number;
  /** Where they came from, with the raw values: "cgroup v1: cpu.cfs_quota_us=50000 ...". */
  source: string;
}

function parseLimitNumber(file: string, text: string): number {
  const t = text.trim();
  if (t === 'max' || t === '-1') return Number.POSITIVE_INFINITY;
  const n = Number(t);
  if (t === '' || !Number.isFinite(n)) throw new Error(`cannot parse ${file}: ${JSON.stringify(text)}`);
  return n;
}

// v1 reports "no limit" as a page-aligned huge number (9223372036854771712).
const V1_UNLIMITED = 2 ** 62;

/** Readback of v1 files (contents as read). An unset limit reads as Infinity. */
export function parseV1Limits(files: {
  cfsQuotaUs: string;
  cfsPeriodUs: string;
  memoryLimitInBytes: string;
}): ReadLimits {
  const quota = parseLimitNumber('cpu.cfs_quota_us', files.cfsQuotaUs);
  const period = parseLimitNumber('cpu.cfs_period_us', files.cfsPeriodUs);
  const mem = parseLimitNumber('memory.limit_in_bytes', files.memoryLimitInBytes);
  return {
    cpuCores: quota === Number.POSITIVE_INFINITY ? quota : quota / period,
    memoryBytes: mem >= V1_UNLIMITED ? Number.POSITIVE_INFINITY : mem,
    source: `cgroup v1: cpu.cfs_quota_us=${files.cfsQuotaUs.trim()} cpu.cfs_period_us=${files.cfsPeriodUs.trim()} memory.limit_in_bytes=${files.memoryLimitInBytes.trim()}`,
  };
}

/** Readback of v2 files: cpu.max is "quota period" or "max period"; memory.max a number or "max". */
export function parseV2Limits(files: { cpuMax: string; memoryMax: string }): ReadLimits {
  const [quotaText = '', periodText = String(CFS_PERIOD_US)] = files.cpuMax.trim().split(/\s+/);
  const quota = parseLimitNumber('cpu.max', quotaText);
  const period = parseLimitNumber('cpu.max', periodText);
  return {
    cpuCores: quota === Number.POSITIVE_INFINITY ? quota : quota / period,
    memoryBytes: parseLimitNumber('memory.max', files.memoryMax),
    source: `cgroup v2: cpu.max="${files.cpuMax.trim()}" memory.max=${files.memoryMax.trim()}`,
  };
}
