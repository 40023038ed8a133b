// What conclab run says before a run about a schedule (it runs once) and a sweep (its points).
import test from 'ava';
import { runNotes, workloadCores } from '../../operator/cli/run-notes.ts';
import { buildExperiment } from '../analysis/records-builder.ts';

test('a manifest with spec.schedule is run once, and conclab run says so', (t) => {
  const notes = runNotes(buildExperiment({ schedule: '0 3 * * 1' }).spec);
  t.deepEqual(notes, [
    'note: spec.schedule "0 3 * * 1" is for the operator in a cluster (kubectl apply); conclab run runs the experiment once, now\n',
  ]);
});

test('a plain manifest gets no note', (t) => {
  t.deepEqual(runNotes(buildExperiment().spec), []);
});

test('a sweep names its points and their count', (t) => {
  const spec = buildExperiment({ sweep: { workers: [1, 2], cpu: ['500m', '1.5'] }, trials: 2 }).spec;
  t.deepEqual(runNotes(spec), [
    'sweep: 2 variant(s) x workers 1, 2 x CPU 500m, 1.5 = 8 points (process-w1-c500m, process-w2-c500m, process-w1-c1500m, process-w2-c1500m, thread-w1-c500m, thread-w2-c500m, thread-w1-c1500m, thread-w2-c1500m), 2 trial(s) each\n',
  ]);
  t.is(workloadCores(spec), 1.5, 'the load generator keeps off the largest budget');
  t.is(workloadCores(buildExperiment().spec), 1);
});
