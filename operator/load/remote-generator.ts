// A load generator in another pod: the server `conclab generate` runs there, and the client the
// trial's coordinator (the load pod running `conclab trial`) uses to hand it its share.
//
// Protocol (HTTP/1.1 on the pod IP, the experiment's bearer token on every POST):
//   GET  /readyz    -> 200 once the server listens (the pod's readiness probe).
//   POST /v1/part   {driver, plan, share, startAtEpochMillis, slo?, k6?} -> 200 and an NDJSON
//                   stream: {"type":"started"}, {"type":"progress",...} about once a second,
//                   {"type":"heartbeat"} every few seconds, and last {"type":"part","part":...}
//                   or {"type":"error","message":...}. One part at a time (409 while busy).
//   POST /v1/abort  -> 204; the running part stops and still answers with its partial part.
// The answer streams so a part lasting minutes keeps its connection alive through proxies and
// client timeouts. A coordinator that goes away (connection closed) aborts its part: no load is
// left running for nobody. The generator injects no faults and receives no spans: it only runs
// its share of the schedule, from the common start, and answers with its LoadPart.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadPart } from './merge.ts';
import { LOAD_DRIVERS, type LoadDriverName, type PartRunner, type RunLoadOptions, runLoadPart } from './parts.ts';
import type { LoadSlo } from './slo.ts';
import type { LoadPlan, LoadProgress } from './types.ts';

export const GENERATOR_PATHS = { ready: '/readyz', part: '/v1/part', abort: '/v1/abort' } as const;
/** Port `conclab generate` listens on in a generator pod. */
export const GENERATE_PORT = 8090;

/** What the coordinator sends with a part. */
export interface PartRequest {
  driver: LoadDriverName;
  /** The whole trial's plan (every target, the whole rate); the share says which part of it. */
  plan: Omit<LoadPlan, 'onProgress' | 'signal' | 'onTimeZero'>;
  share: { index: number; count: number };
  startAtEpochMillis: number;
  /** k6's thresholds. */
  slo?: LoadSlo;
  k6?: { sampleRatio?: number };
}

export type PartLine =
  | { type: 'started' }
  | { type: 'heartbeat' }
  | { type: 'progress'; progress: LoadProgress }
  | { type: 'part'; part: LoadPart }
  | { type: 'error'; message: string };

/** How late a start may be when the request arrives: later, the clocks of the two pods differ. */
export const MAX_LATE_START_MILLIS = 1000;
/** How far ahead a start may be: farther, the clocks differ (or the coordinator is confused). */
export const MAX_EARLY_START_MILLIS = 60_000;
const HEARTBEAT_MILLIS = 5000;
/** A stream with no line for this long is dead (heartbeats come every HEARTBEAT_MILLIS). */
const SILENCE_MILLIS = 30_000;
const MAX_REQUEST_BYTES = 1024 * 1024;

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
function tokenMatches(header: string | undefined, expected: string): boolean {
  const presented = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  // Both hashed: the comparison takes the same time whatever was presented.
  return timingSafeEqual(digest(presented), digest(expected)) && presented !== '';
}

// ---- the client (the coordinator's side) --------------------------------------------------

export interface RemoteGeneratorOptions {
  driver: LoadDriverName;
  /** The experiment's bearer token. */
  token: string;
  slo?: LoadSlo;
  k6?: { sampleRatio?: number };
}

/** A PartRunner that has the generator at `baseUrl` run the part. */
export function remoteGenerator(baseUrl: string, options: RemoteGeneratorOptions): PartRunner {
  const base = baseUrl.replace(/\/+$/, '');
  const auth = { authorization: `Bearer ${options.token}` };
  return async (plan, part) => {
    const { onProgress, signal, onTimeZero: _onTimeZero, ...serializable } = plan;
    const request: PartRequest = {
      driver: options.driver,
      plan: serializable,
      share: part.share,
      startAtEpochMillis: part.startAtEpochMillis,
      ...(options.slo ? { slo: options.slo } : {}),
      ...(options.k6 ? { k6: options.k6 } : {}),
    };
    const where = `load generator at ${base}`;
    // The connection lives as long as the part; it is cut only when the generator goes silent.
    const connection = new AbortController();
    let silence: NodeJS.Timeout | undefined;
    const watch = () => {
      clearTimeout(silence);
      silence = setTimeout(() => connection.abort(), SILENCE_MILLIS);
    };
    // An abort of the plan asks the generator to stop; its partial part still comes back.
    const onAbort = () => {
      fetch(`${base}${GENERATOR_PATHS.abort}`, { method: 'POST', headers: auth, signal: AbortSignal.timeout(5000) })
        .then((r) => r.arrayBuffer())
        .catch(() => {});
    };
    try {
      watch();
      let res: Response;
      try {
        res = await fetch(`${base}${GENERATOR_PATHS.part}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(request),
          signal: connection.signal,
        });
      } catch (err) {
        throw new Error(`${where} cannot be reached: ${causeOf(err)}`);
      }
      if (!res.ok) throw new Error(`${where} refused the part: HTTP ${res.status} ${(await res.text()).trim()}`);
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      let buffered = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          watch();
          buffered += decoder.decode(chunk, { stream: true });
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line === '') continue;
            const message = JSON.parse(line) as PartLine;
            if (message.type === 'part') return message.part;
            if (message.type === 'error') throw new Error(`${where} failed: ${message.message}`);
            if (message.type === 'progress' && onProgress) onProgress(message.progress);
          }
        }
      } catch (err) {
        if ((err as Error).message.startsWith(where)) throw err;
        const silent = connection.signal.aborted ? ` (no word for ${SILENCE_MILLIS / 1000} s)` : '';
        throw new Error(`${where} broke off the part${silent}: ${causeOf(err)}`);
      }
      throw new Error(`${where} ended its answer without a result`);
    } finally {
      clearTimeout(silence);
      signal?.removeEventListener('abort', onAbort);
    }
  };
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

// ---- the server (`conclab generate`) --------------------------------------------------------

export interface GeneratorServerOptions {
  /** Address to listen on: the pod IP in a pod, 127.0.0.1 in tests. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The experiment's bearer token: every POST must present it. */
  token: string;
  /** Options of the drivers (k6's PATH, saturation limits of the built-in driver). */
  load?: Omit<RunLoadOptions, 'slo' | 'cpus'>;
  /** Lines for the pod log. */
  log?: (line: string) => void;
}

export interface GeneratorServer {
  url: string;
  /** Stops listening, aborts a running part, and resolves once its answer is done. */
  close(): Promise<void>;
}

export async function startGeneratorServer(options: GeneratorServerOptions): Promise<GeneratorServer> {
  if (options.token.length < 16) {
    throw new Error('the generator needs the experiment token (CONCLAB_TOKEN, 16 characters or more)');
  }
  const log = options.log ?? (() => {});
  let running: { controller: AbortController; done: Promise<void> } | undefined;

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === GENERATOR_PATHS.ready) return void res.writeHead(200).end('ok\n');
    if (path !== GENERATOR_PATHS.part && path !== GENERATOR_PATHS.abort) return refuse(res, 404, 'no such path');
    if (req.method !== 'POST') return refuse(res, 405, `${path} takes POST`);
    if (!tokenMatches(req.headers.authorization, options.token)) {
      req.resume();
      return refuse(res, 401, "missing or wrong bearer token: present the experiment's token (CONCLAB_TOKEN)");
    }
    if (path === GENERATOR_PATHS.abort) {
      req.resume();
      running?.controller.abort();
      return void res.writeHead(204).end();
    }
    readJson(req)
      .then((body) => {
        const problem = requestProblem(body);
        if (problem) return refuse(res, 400, problem);
        if (running) return refuse(res, 409, 'busy: this generator runs one part at a time');
        const controller = new AbortController();
        const done = servePart(body as PartRequest, res, controller, options, log).finally(() => {
          running = undefined;
        });
        running = { controller, done };
      })
      .catch((err: Error) => refuse(res, 400, err.message));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    async close() {
      running?.controller.abort();
      await running?.done;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function servePart(
  request: PartRequest,
  res: ServerResponse,
  controller: AbortController,
  options: GeneratorServerOptions,
  log: (line: string) => void,
): Promise<void> {
  const { share } = request;
  const write = (line: PartLine) => {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(line)}\n`);
  };
  // The coordinator gone (connection closed before the answer ended): nobody wants this load.
  res.once('close', () => {
    if (!res.writableEnded) controller.abort();
  });
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  write({ type: 'started' });
  const heartbeat = setInterval(() => write({ type: 'heartbeat' }), HEARTBEAT_MILLIS);
  log(
    `part ${share.index} of ${share.count}: ${request.driver}, starts at ${new Date(request.startAtEpochMillis).toISOString()}`,
  );
  try {
    const part = await runLoadPart(
      { ...request.plan, signal: controller.signal, onProgress: (progress) => write({ type: 'progress', progress }) },
      request.driver,
      { share, startAtEpochMillis: request.startAtEpochMillis },
      {
        ...options.load,
        ...(request.slo ? { slo: request.slo } : {}),
        k6: { ...options.load?.k6, ...request.k6 },
      },
    );
    write({ type: 'part', part });
    log(`part ${share.index} of ${share.count}: ${part.result.sent} sent, ${part.result.completed} completed`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    write({ type: 'error', message });
    log(`part ${share.index} of ${share.count} failed: ${message}`);
  } finally {
    clearInterval(heartbeat);
    if (!res.writableEnded) res.end();
  }
}

/** Why a part request cannot be run, or undefined. The plan itself is checked by the driver. */
export function requestProblem(body: unknown, nowMillis: number = Date.now()): string | undefined {
  const r = body as Partial<PartRequest> | null;
  if (r === null || typeof r !== 'object')
    return 'the body must be a JSON object {driver, plan, share, startAtEpochMillis}';
  if (!LOAD_DRIVERS.includes(r.driver as LoadDriverName)) return `driver must be one of ${LOAD_DRIVERS.join(', ')}`;
  if (r.plan === null || typeof r.plan !== 'object' || !Array.isArray(r.plan.targets)) {
    return 'plan must be a load plan with targets';
  }
  const { index, count } = r.share ?? {};
  if (!(Number.isInteger(count) && Number.isInteger(index) && (count as number) >= 2 && (index as number) >= 0)) {
    return 'share must be {index, count} with count of 2 or more';
  }
  if ((index as number) >= (count as number)) return `share index ${index} is not one of ${count} generators`;
  const start = r.startAtEpochMillis;
  if (typeof start !== 'number' || !Number.isFinite(start)) return 'startAtEpochMillis must be an epoch time in ms';
  if (start < nowMillis - MAX_LATE_START_MILLIS) {
    return `the start time lies ${Math.round(nowMillis - start)} ms in the past here: this node's clock and the coordinator's differ (synchronise the nodes' clocks)`;
  }
  if (start > nowMillis + MAX_EARLY_START_MILLIS) {
    return `the start time lies ${Math.round((start - nowMillis) / 1000)} s ahead here: this node's clock and the coordinator's differ (synchronise the nodes' clocks)`;
  }
  return undefined;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`${message}\n`);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('the request body did not arrive within 10 s'));
    }, 10_000);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        clearTimeout(timer);
        req.destroy();
        reject(new Error(`the request body is over ${MAX_REQUEST_BYTES} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('the request body is not JSON'));
      }
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
