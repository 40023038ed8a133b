// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
// every retry period; a candidate takes the lease only once it has not been renewed for a
// whole lease duration; a leader that cannot renew within the renew deadline steps down
// before anyone else may take over (renewDeadline < leaseDuration), so two leaders never
// act at once. Writes use the read resourceVersion: of two racing candidates one gets 409.
import { type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { KubeClient } from './kube-client.ts';

export interface LeaderElectionOptions {
  namespace: string;
  /** Lease name; one per operator installation. */
  name: string;
  /** This candidate: pod name plus a random suffix. */
  identity: string;
  /** How long a lease is valid after its last renewal. */
  leaseDurationMillis: number;
  /** A leader that has not renewed for this long steps down. Must be < leaseDurationMillis. */
  renewDeadlineMillis: number;
  /** Pause between attempts to acquire or renew. */
  retryPeriodMillis: number;
}

export const DEFAULT_LEADER_ELECTION = {
  leaseDurationMillis: 15_000,
  renewDeadlineMillis: 10_000,
  retryPeriodMillis: 2_000,
};

export type LeaseAction =
  | { kind: 'create' }
  | { kind: 'renew' }
  | { kind: 'takeover' }
  | { kind: 'wait'; holder: string; retryAfterMillis: number };

/** Pure: what a candidate should do with the lease it just read. */
export function decideLease(
  lease: V1Lease | undefined,
  identity: string,
  nowMillis: number,
  leaseDurationMillis: number,
): LeaseAction {
  if (!lease) return { kind: 'create' };
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === identity) return { kind: 'renew' };
  if (!holder) return { kind: 'takeover' };
  const renewed = toMillis(lease.spec?.renewTime ?? lease.spec?.acquireTime);
  const durationMillis = (lease.spec?.leaseDurationSeconds ?? leaseDurationMillis / 1000) * 1000;
  if (!Number.isFinite(renewed)) return { kind: 'takeover' };
  const expires = renewed + durationMillis;
  if (nowMillis >= expires) return { kind: 'takeover' };
  return { kind: 'wait', holder, retryAfterMillis: expires - nowMillis };
}

/** Validates options; returns the problems, empty when fine. */
export function leaderElectionProblems(o: Omit<LeaderElectionOptions, 'namespace' | 'name' | 'identity'>): string[] {
  const problems: string[] = [];
  if (!(o.retryPeriodMillis > 0)) problems.push('retryPeriodMillis must be > 0');
  if (!(o.renewDeadlineMillis > o.retryPeriodMillis)) problems.push('renewDeadlineMillis must be > retryPeriodMillis');
  if (!(o.leaseDurationMillis > o.renewDeadlineMillis)) {
    problems.push('leaseDurationMillis must be > renewDeadlineMillis, or two leaders could overlap');
  }
  return problems;
}

function toMillis(t: unknown): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string') return Date.parse(t);
  return Number.NaN;
}

/** MicroTime as the API wants it (RFC 3339 with microseconds). */
function microTime(millis: number): V1MicroTime {
  return new V1MicroTime(millis);
}

export interface LeaderCallbacks {
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  /** The lease is held by `holder` and we wait: called once per holder, not per retry. */
  onStandby?: (holder: string) => void;
  onError?: (err: unknown) => void;
}

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #o: LeaderElectionOptions;
  readonly #cb: LeaderCallbacks;
  #leading = false;
  #lastRenewMillis = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #waitingOn: string | undefined;
  transitions = 0;

  constructor(client: KubeClient, options: LeaderElectionOptions, callbacks: LeaderCallbacks) {
    const problems = leaderElectionProblems(options);
    if (problems.length) throw new Error(`leader election: ${problems.join('; ')}`);
    this.#client = client;
    this.#o = options;
    this.#cb = callbacks;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(delayMillis: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, delayMillis);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    let next = this.#o.retryPeriodMillis;
    try {
      const now = Date.now();
      const lease = await this.#client.getLease(this.#o.namespace, this.#o.name);
      const action = decideLease(lease, this.#o.identity, now, this.#o.leaseDurationMillis);
      if (this.#stopped) return;
      if (action.kind === 'wait') {
        this.#setLeading(false);
        if (this.#waitingOn !== action.holder) {
          this.#waitingOn = action.holder;
          this.#cb.onStandby?.(action.holder);
        }
        next = Math.min(this.#o.retryPeriodMillis, action.retryAfterMillis + 50);
      } else {
        const spec = {
          holderIdentity: this.#o.identity,
          leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMillis / 1000),
          renewTime: microTime(now),
          acquireTime: action.kind === 'renew' ? lease?.spec?.acquireTime : microTime(now),
          leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (action.kind === 'takeover' ? 1 : 0),
        };
        if (action.kind === 'create') {
          await this.#client.createLease({
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#o.name, namespace: this.#o.namespace },
            spec,
          });
        } else {
          await this.#client.replaceLease({ ...lease, spec });
        }
        this.#lastRenewMillis = now;
        this.#waitingOn = undefined;
        this.#setLeading(true);
      }
    } catch (err) {
      this.#cb.onError?.(err);
      if (this.#leading && Date.now() - this.#lastRenewMillis > this.#o.renewDeadlineMillis) this.#setLeading(false);
    }
    this.#schedule(next);
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.transitions++;
    if (leading) this.#cb.onStartedLeading();
    else this.#cb.onStoppedLeading();
  }

  /** Stops campaigning; a leader releases the lease so a successor need not wait it out. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
    if (!this.#leading) return;
    this.#setLeading(false);
    try {
      const lease = await this.#client.getLease(this.#o.namespace, this.#o.name);
      if (lease?.spec?.holderIdentity === this.#o.identity) {
        await this.#client.replaceLease({
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
        });
      }
    } catch (err) {
      this.#cb.onError?.(err);
    }
  }
}
