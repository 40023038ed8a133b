// One load generator process (started by generators.ts, pinned by taskset when asked): loads
// the driver, says it is ready, runs its share of the schedule from the shared time 0, and
// sends its part back over the IPC channel. It exits when the parent goes away, so a
// crashed run leaves no generator behind.
import { runBuiltinPart } from './builtin.ts';
import type { FromGenerator, ToGenerator } from './generators.ts';

const reply = (m: FromGenerator, then?: () => void) => {
  if (process.connected) process.send?.(m, undefined, {}, () => then?.());
};

process.on('disconnect', () => process.exit(0));
const controller = new AbortController();
process.on('message', (m: ToGenerator) => {
  if (m.type === 'abort') {
    controller.abort();
    return;
  }
  runBuiltinPart(
    {
      ...m.plan,
      signal: controller.signal,
      ...(m.progress ? { onProgress: (progress) => reply({ type: 'progress', progress }) } : {}),
    },
    { ...m.options, share: m.share, startAtEpochMillis: m.startAtEpochMillis },
  ).then(
    (part) => reply({ type: 'part', part }, () => process.exit(0)),
    (err: unknown) =>
      reply({ type: 'error', message: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
});
reply({ type: 'ready' });
