// A flush or shutdown that must not hold a workload's exit for ever: both span pipelines (the
// workload's own and the bench-only NodeSDK one) end their exporters under this bound.

/** Settles true when work finished in time, false when it failed or the bound passed. */
export function bounded(work: Promise<unknown>, timeoutMillis: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMillis);
    }),
  ]).finally(() => clearTimeout(timer));
}
