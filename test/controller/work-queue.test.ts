import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { WorkQueue } from '../../operator/controller/work-queue.ts';

test('a key added many times is handed out once', async (t) => {
  const q = new WorkQueue();
  q.add('ns/a');
  q.add('ns/a');
  q.add('ns/b');
  q.add('ns/a');
  t.is(q.length, 2);
  t.is(await q.get(), 'ns/a');
  t.is(await q.get(), 'ns/b');
  t.is(q.length, 0);
});

test('a key being processed is not handed to a second worker; an add meanwhile re-queues it once done', async (t) => {
  const q = new WorkQueue();
  q.add('ns/a');
  const key = await q.get();
  q.add('ns/a');
  q.add('ns/a');
  t.is(q.length, 0, 'not queued while processing');
  q.done(key as string);
  t.is(q.length, 1);
  t.is(await q.get(), 'ns/a');
  q.done('ns/a');
  t.is(q.length, 0);
});

test('a waiting worker gets the next key added', async (t) => {
  const q = new WorkQueue();
  const pending = q.get();
  q.add('ns/x');
  t.is(await pending, 'ns/x');
});

test('rate-limited requeues back off per key and forget resets the count', (t) => {
  const q = new WorkQueue({ random: () => 0 });
  t.is(q.addRateLimited('ns/a'), 400);
  t.is(q.addRateLimited('ns/a'), 800);
  t.is(q.addRateLimited('ns/a'), 1600);
  t.is(q.addRateLimited('ns/b'), 400, 'other keys are not slowed down');
  t.is(q.failures('ns/a'), 3);
  q.forget('ns/a');
  t.is(q.addRateLimited('ns/a'), 400);
  q.shutDown();
});

test('addAfter delivers the key after the delay and keeps the earliest of two delays', async (t) => {
  const q = new WorkQueue();
  q.addAfter('ns/a', 10_000);
  q.addAfter('ns/a', 30);
  t.is(q.length, 0);
  await sleep(200);
  t.is(q.length, 1);
  t.is(await q.get(), 'ns/a');
  q.shutDown();
});

test('shutDown wakes waiting workers with undefined and ignores later adds', async (t) => {
  const q = new WorkQueue();
  const pending = q.get();
  q.shutDown();
  t.is(await pending, undefined);
  q.add('ns/a');
  t.is(await q.get(), undefined);
});
