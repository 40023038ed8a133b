// A list+watch informer that never dies. client-node's informers stop on errors other than
// 410 unless restarted, so this one owns the loop: list (fresh resourceVersion), then watch
// from it; on 410 Gone re-list at once; on any other error back off with jitter (800 ms ->
// 30 s); a staleness watchdog re-lists when nothing (not even a bookmark or a clean watch
// end) was heard for `staleAfterMillis`. Re-lists re-fire every object, so handlers must be
// idempotent; in the controller they only enqueue a key.
import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { type BackoffOptions, backoffDelayMillis, DEFAULT_BACKOFF } from './backoff.ts';
import { statusCodeOf } from './errors.ts';

export interface KubeObjectLike {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

export interface InformerOptions<T extends KubeObjectLike> {
  /** Short name for logs and metrics: "concurrencyexperiments@default". */
  name: string;
  config: KubeConfig;
  /** One page of the collection; returns items and the list's resourceVersion. */
  list: () => Promise<{ items: T[]; resourceVersion: string }>;
  /** API path of the collection to watch, e.g. /api/v1/namespaces/ns/pods. */
  watchPath: string;
  labelSelector?: string;
  onChange: (obj: T) => void;
  onDelete: (obj: T) => void;
  /** Reported, never thrown: the loop goes on. */
  onError?: (err: unknown, context: string) => void;
  backoff?: BackoffOptions;
  /** Re-list when nothing was heard for this long. */
  staleAfterMillis?: number;
  /** Server-side watch timeout; the watch is re-opened (cheaply) after it. */
  watchTimeoutSeconds?: number;
}

export function objectKey(obj: KubeObjectLike): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class Informer<T extends KubeObjectLike> {
  readonly #o: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  #resourceVersion = '';
  #synced = false;
  #stopped = false;
  #attempt = 0;
  #lastHeardMillis = 0;
  #abort: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #generation = 0;
  relists = 0;
  errors = 0;

  constructor(options: InformerOptions<T>) {
    this.#o = options;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** True when synced and heard from recently enough. */
  healthy(nowMillis = Date.now()): boolean {
    return this.#synced && nowMillis - this.#lastHeardMillis < this.#staleAfter();
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  start(): void {
    this.#stopped = false;
    const staleAfter = this.#staleAfter();
    this.#watchdog = setInterval(
      () => {
        if (this.#synced && Date.now() - this.#lastHeardMillis > staleAfter) {
          this.#o.onError?.(new Error(`no events for ${staleAfter} ms`), `${this.#o.name}: watch stale, re-listing`);
          this.#restart(0);
        }
      },
      Math.max(1000, Math.floor(staleAfter / 4)),
    );
    this.#watchdog.unref();
    this.#restart(0);
  }

  stop(): void {
    this.#stopped = true;
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#abort?.abort();
  }

  #staleAfter(): number {
    return this.#o.staleAfterMillis ?? 5 * 60_000;
  }

  /** (Re)starts the loop after a delay; any older loop is abandoned. */
  #restart(delayMillis: number, relist = true): void {
    if (this.#stopped) return;
    const gen = ++this.#generation;
    this.#abort?.abort();
    this.#abort = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (gen !== this.#generation || this.#stopped) return;
      (relist ? this.#listThenWatch(gen) : this.#watch(gen)).catch((err) => this.#failed(gen, err, 'loop'));
    }, delayMillis);
    this.#timer.unref();
  }

  #failed(gen: number, err: unknown, context: string): void {
    if (gen !== this.#generation || this.#stopped) return;
    this.errors++;
    if (statusCodeOf(err) === 410) {
      this.#restart(0);
      return;
    }
    this.#o.onError?.(err, `${this.#o.name}: ${context}`);
    const delay = backoffDelayMillis(this.#attempt++, this.#o.backoff ?? DEFAULT_BACKOFF);
    this.#restart(delay);
  }

  async #listThenWatch(gen: number): Promise<void> {
    const { items, resourceVersion } = await this.#o.list();
    if (gen !== this.#generation) return;
    this.relists++;
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      this.#cache.set(key, item);
      this.#o.onChange(item);
    }
    for (const [key, old] of this.#cache) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#o.onDelete(old);
      }
    }
    this.#resourceVersion = resourceVersion;
    this.#synced = true;
    this.#lastHeardMillis = Date.now();
    await this.#watch(gen);
  }

  async #watch(gen: number): Promise<void> {
    const watch = new Watch(this.#o.config);
    const timeoutSeconds = this.#o.watchTimeoutSeconds ?? 20 + Math.floor(Math.random() * 8);
    const params: Record<string, string | number | boolean | undefined> = {
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds,
      labelSelector: this.#o.labelSelector,
    };
    this.#abort = await watch.watch(
      this.#o.watchPath,
      params,
      (type, obj: T & { code?: number; kind?: string }) => {
        if (gen !== this.#generation) return;
        this.#lastHeardMillis = Date.now();
        if (type === 'ERROR') {
          const err = Object.assign(new Error(`watch error: ${JSON.stringify(obj)}`), { statusCode: obj.code });
          this.#failed(gen, err, 'watch');
          return;
        }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        const key = objectKey(obj);
        if (type === 'DELETED') {
          this.#cache.delete(key);
          this.#o.onDelete(obj);
        } else {
          this.#cache.set(key, obj);
          this.#o.onChange(obj);
        }
        this.#attempt = 0;
      },
      (err) => {
        if (gen !== this.#generation) return;
        if (err && !isInactivityTimeout(err)) {
          this.#failed(gen, err, 'watch');
          return;
        }
        // A clean end (server timeout) or client inactivity: resume from the last version.
        this.#lastHeardMillis = Date.now();
        this.#restart(0, false);
      },
    );
  }
}

function isInactivityTimeout(err: unknown): boolean {
  return (err as { name?: string })?.name === 'TimeoutError' || (err as { name?: string })?.name === 'AbortError';
}
