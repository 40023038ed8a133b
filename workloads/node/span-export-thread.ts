// A span-export thread: the workload's span pipeline (span-pipeline.ts) in a thread of its own
// in the supervisor's process, for the placements where the supervisor's main thread must not
// run the SDK (span-export.ts, exporterPlacement). It takes span batches and flush requests on
// its parentPort and on every port handed to it (a serving thread's direct line).
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { WorkloadConfig } from './config.ts';
import type { FromExporter, ToExporter } from './span-export.ts';
import { SpanPipeline } from './span-pipeline.ts';

const { config } = workerData as { config: WorkloadConfig };
const pipeline = new SpanPipeline(config);

function listen(port: MessagePort): void {
  port.on('message', (message: ToExporter | { type: 'port'; port: MessagePort }) => {
    switch (message.type) {
      case 'port':
        listen(message.port);
        break;
      case 'spans':
        pipeline.add(message.source, message.batch, message.count);
        break;
      case 'flush':
      case 'shutdown': {
        const work =
          message.type === 'flush'
            ? pipeline.forceFlush(message.timeoutMillis)
            : pipeline.shutdown(message.timeoutMillis);
        const { id } = message;
        void work.then((ok) => port.postMessage({ type: 'flushed', id, ok } satisfies FromExporter));
        break;
      }
    }
  });
}

listen(parentPort!);
