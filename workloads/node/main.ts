// conclab's Node.js workload. One entrypoint, configured only by environment variables
// (README.md has the table). Run it as `node workloads/node/main.ts`.
//
// The same file is the entry of the worker processes of the process model: the supervisor forks
// it with CONCLAB_INTERNAL_WORKER set, and then it serves instead of supervising.
import { parseConfig, type WorkloadConfig } from './config.ts';
import { calibrate } from './cpu-work.ts';
import { logEvent } from './log.ts';
import type { ToSupervisor, ToWorker, WorkerInit } from './messages.ts';
import { toIpcBatch } from './span-recorder.ts';
import { Supervisor } from './supervisor.ts';
import { runWorker } from './worker.ts';

async function runProcessWorker(config: WorkloadConfig, init: WorkerInit): Promise<void> {
  // The supervisor is gone (even if it was SIGKILLed): never outlive it.
  process.on('disconnect', () => process.exit(0));
  const { shutdown } = await runWorker(
    config,
    init,
    {
      send: (message) => {
        if (process.connected) process.send?.(message);
      },
      // Resolves once written to the channel (or when it is gone), so the worker may exit then.
      sendSpans: (source, batch, count) =>
        new Promise<void>((resolve) => {
          if (!process.connected || process.send === undefined) return resolve();
          const message: ToSupervisor = { type: 'spans', source, count, batch: toIpcBatch(batch, count) };
          process.send(message, () => resolve());
        }),
      onMessage: (listener) => process.on('message', (message) => listener(message as ToWorker)),
    },
    { index: init.index, pid: process.pid, threadId: 0 },
  );
  // SIGTERM sent to the whole process group reaches workers directly: drain the same way.
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}

async function runSupervisor(config: WorkloadConfig): Promise<void> {
  const needsCpu = config.profile !== 'io' && config.cpuMillis > 0;
  const cpuIterationsPerMilli = config.cpuIterationsPerMilli ?? (needsCpu ? calibrate() : 1);
  const supervisor = new Supervisor({ config, cpuIterationsPerMilli });
  process.on('SIGTERM', () => void supervisor.shutdown('SIGTERM'));
  process.on('SIGINT', () => void supervisor.shutdown('SIGINT'));
  if (process.env.CONCLAB_EXIT_WITH_STDIN === 'true') {
    // conclab run holds the other end of stdin: EOF means it is gone (even SIGKILLed), and a
    // workload must not outlive the run that measures it.
    process.stdin.on('end', () => void supervisor.shutdown('parent-gone'));
    process.stdin.on('error', () => void supervisor.shutdown('parent-gone'));
    process.stdin.resume();
  }
  try {
    await supervisor.start();
  } catch (error) {
    logEvent('error', { message: `start failed: ${(error as Error).message}` });
    await supervisor.shutdown('startup-failure', 1);
  }
}

let config: WorkloadConfig;
try {
  config = parseConfig(process.env);
} catch (error) {
  logEvent('error', { message: (error as Error).message });
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(2);
}
const internal = process.env['CONCLAB_INTERNAL_WORKER'];
if (internal === undefined)
  for (const warning of config.warnings) process.stderr.write(`conclab workload: ${warning}\n`);
if (internal !== undefined) await runProcessWorker(config, JSON.parse(internal) as WorkerInit);
else await runSupervisor(config);
