// The span attributes every span of a worker carries: the CONCLAB_* variables and the worker's
// identity, which the aggregator keys spans by (experiment, run, variant, trial, replica, worker).
// Types only from OpenTelemetry: this module loads none of it.
import type { Attributes } from '@opentelemetry/api';
import type { WorkloadConfig } from './config.ts';

export interface WorkerIdentity {
  index: number;
  pid: number;
  threadId: number;
}

export const DEFAULT_SERVICE_NAME = 'conclab-workload-node';

export function workerAttributes(config: WorkloadConfig, identity: WorkerIdentity): Attributes {
  const attributes: Attributes = {
    'conclab.experiment': config.experiment,
    'conclab.variant': config.variant,
    'conclab.trial': config.trial,
    'conclab.model': config.model,
    'conclab.worker': identity.index,
    'process.pid': identity.pid,
    'thread.id': identity.threadId,
  };
  if (config.replica !== undefined) attributes['conclab.replica'] = config.replica;
  if (config.run !== '') attributes['conclab.run'] = config.run;
  return attributes;
}
