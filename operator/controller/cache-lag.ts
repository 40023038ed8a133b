// Pure: whether the informer's copy of an experiment lags what the API server holds. The cache
// can be behind the operator's own last status write (its watch event is still on the way;
// on a loaded machine for a second or more), and a scheduled experiment's next step is a
// function of that status: deciding it from the older copy starts the next due tick's run
// beside the current one, deletes the current run's pods, and records history on top of a
// list that misses the run just recorded. Such a step waits for the cache instead.
import type { ConcurrencyExperiment } from '../api/schema.ts';
import { statusDiffers } from './status.ts';

/**
 * True when `latest` (a fresh read) has another spec generation or another status than
 * `cached`. Metadata-only changes (labels, annotations, the resourceVersion they bring) do not
 * count: nothing is decided from them.
 */
export function lagsBehind(cached: ConcurrencyExperiment, latest: ConcurrencyExperiment | undefined): boolean {
  if (!latest) return false; // gone: the delete event follows, and deletion is handled from it
  if ((latest.metadata.generation ?? 0) !== (cached.metadata.generation ?? 0)) return true;
  return statusDiffers(cached.status, latest.status ?? {});
}
