import test from 'ava';
import { WorkQueue } from '../../operator/controller/work-queue.ts';
import { FakeClock } from './fake-clock.ts';

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

test('addAfter delivers the key when the delay is due, not before, and keeps the earliest of two delays', async (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('ns/a', 10_000);
  q.addAfter('ns/a', 30);
  t.is(clock.pending, 1, 'the later delay was replaced by the earlier one');
  t.is(q.dueMillis('ns/a'), clock.now() + 30);
  clock.advance(29);
  t.is(q.length, 0, 'not yet due');
  clock.advance(1);
  t.is(q.length, 1, 'due at 30 ms');
  t.is(q.dueMillis('ns/a'), undefined);
  t.is(await q.get(), 'ns/a');
  q.done('ns/a');
  clock.advance(20_000);
  t.is(q.length, 0, 'the replaced 10 s delay does not fire later');
  q.shutDown();
});

test('a longer delay never postpones a pending shorter one', (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('ns/a', 100);
  clock.advance(50);
  q.addAfter('ns/a', 100);
  t.is(q.dueMillis('ns/a'), clock.now() + 50, 'still due at the first deadline');
  clock.advance(50);
  t.is(q.length, 1);
  q.shutDown();
});

test('a rate-limited requeue is delivered after its backoff delay', (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, random: () => 0 });
  const delay = q.addRateLimited('ns/a');
  t.is(delay, 400);
  clock.advance(399);
  t.is(q.length, 0);
  clock.advance(1);
  t.is(q.length, 1);
  q.shutDown();
});

test('shutDown cancels delayed adds', (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('ns/a', 10);
  q.shutDown();
  t.is(clock.pending, 0);
  clock.advance(100);
  t.is(q.length, 0);
});

test('a delay of zero adds at once', (t) => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('ns/a', 0);
  t.is(q.length, 1);
  t.is(clock.pending, 0);
  q.shutDown();
});

test('counts keys being processed', async (t) => {
  const q = new WorkQueue();
  q.add('ns/a');
  t.is(q.processing, 0);
  const key = await q.get();
  t.is(q.processing, 1);
  q.done(key as string);
  t.is(q.processing, 0);
});

test('shutDown wakes waiting workers with undefined and ignores later adds', async (t) => {
  const q = new WorkQueue();
  const pending = q.get();
  q.shutDown();
  t.is(await pending, undefined);
  q.add('ns/a');
  t.is(await q.get(), undefined);
});
