// `node test/cluster/down.ts`: stops the shared test cluster (if one runs) and sweeps every
// slot a dead run left behind; slots held by a live process are reported and left alone.
// `node test/cluster/down.ts --sweep-slot N`: sweeps slot N from its state file; the slot's guard
// runs this (holding the slot's lock) when the owner died without stopping.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readSlotState, removeEmptyCniCache, runDir, slotLockPath, slotStatePath, sweepSlot } from './host-state.ts';
import { maxSlots } from './node-plan.ts';
import { stopSharedCluster } from './shared-lease.ts';

const run = runDir();
const args = process.argv.slice(2);

function sweep(slot: number): number {
  const path = slotStatePath(run, slot);
  const state = readSlotState(path);
  if (!state) return 0;
  const report = sweepSlot(state, path);
  const when = new Date().toISOString();
  console.log(`${when} slot ${slot} (owner pid ${state.ownerPid}): ${report.actions.join('; ') || 'nothing left'}`);
  for (const problem of report.problems) console.error(`${when} slot ${slot}: could not undo: ${problem}`);
  removeEmptyCniCache(run);
  return report.problems.length > 0 ? 1 : 0;
}

if (args[0] === '--sweep-slot') {
  const slot = Number(args[1]);
  if (!Number.isInteger(slot) || slot < 0 || slot >= maxSlots) {
    console.error(`down.ts: --sweep-slot needs a slot number 0..${maxSlots - 1}`);
    process.exit(2);
  }
  process.exit(sweep(slot));
}
if (args.length > 0) {
  console.error('usage: test/cluster/down.sh   (stops the shared cluster, sweeps what dead runs left)');
  process.exit(2);
}

const stopped = await stopSharedCluster();
if (stopped) console.log(`down: stopped the shared cluster (daemon pid ${stopped})`);
let failed = 0;
let inUse = 0;
for (let slot = 0; slot < maxSlots; slot++) {
  if (!existsSync(slotStatePath(run, slot))) continue;
  // Sweep only under the slot's lock: a live owner keeps it, and is left alone.
  const locked = spawnSync(
    'flock',
    ['-n', '-E', '99', slotLockPath(run, slot), process.execPath, import.meta.filename, '--sweep-slot', String(slot)],
    { stdio: 'inherit' },
  );
  if (locked.status === 99) {
    const state = readSlotState(slotStatePath(run, slot));
    console.log(`down: slot ${slot} is in use by pid ${state?.ownerPid} (a live test); left alone`);
    inUse++;
  } else if (locked.status !== 0) failed++;
}
if (failed > 0) console.log('down: some state could not be removed (above)');
else if (inUse > 0) console.log(`down: nothing of a dead run is left; ${inUse} live node(s) left alone`);
else console.log('down: nothing of a test node is left');
process.exit(failed === 0 ? 0 : 1);
