// The OTLP/HTTP trace receiver: `POST /v1/traces` with protobuf or JSON bodies, optionally
// gzip-compressed, decoded and aggregated as they arrive. Responses follow the OTLP/HTTP spec:
// 200 with an ExportTraceServiceResponse in the request's encoding (partial_success filled in
// only when spans were refused), 4xx/5xx with a google.rpc.Status describing the problem.
//
// It serves one run at a time but must hold against anything else that can reach its port:
//   - every request must present the run's bearer token; others get 401 before a byte of their
//     body is read;
//   - spans of another experiment or run than the expected one are refused, never aggregated,
//     and keys are bounded per variant (see aggregator.ts), so junk cannot crowd out real spans;
//   - headers and bodies have deadlines and bodies a minimum rate, connections are capped, and
//     memory is bounded by the bytes bodies hold, not by request slots, so clients trickling
//     bodies cannot keep real exports out;
//   - every refusal is answered, and counted per reason (stats(), health()): the caller can say
//     "N spans were refused (reason)" instead of silently losing the server-side section.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AGGREGATED_ATTRIBUTES, SpanAggregator, type SpanAggregatorOptions } from './aggregator.ts';
import { bearerTokenMatches, checkBearerToken, newBearerToken } from './bearer-token.ts';
import { ByteBudget } from './byte-budget.ts';
import { decodeTraceRequestJson, encodeStatusJson, encodeTraceResponseJson } from './otlp-json.ts';
import { decodeTraceRequestProtobuf, encodeStatusProtobuf, encodeTraceResponseProtobuf } from './otlp-protobuf.ts';
import { RefusalCounter } from './refusals.ts';
import { HttpError, isClosingAfterRefusal, readRequestBody, respond } from './request-body.ts';
import { type DecodedSpan, OtlpDecodeError } from './span.ts';
import type {
  RefusalReason,
  SpanAggregate,
  SpanExpectation,
  SpanKey,
  TraceReceiver,
  TraceReceiverHealth,
  TraceReceiverStats,
} from './types.ts';

export const TRACES_PATH = '/v1/traces';

/** How long a refused client may go on sending before its connection is closed. */
const LINGER_MILLIS = 2_000;

export interface TraceReceiverOptions {
  /**
   * Address to bind. Default 127.0.0.1 (loopback only); 0.0.0.0 where workload pods must reach
   * it through a Service.
   */
  host?: string;
  /** TCP port; 0 (the default) lets the kernel pick a free one, read it back from `url`. */
  port?: number;
  /**
   * The bearer token every request must present (`authorization: Bearer <token>`, which the
   * OpenTelemetry SDKs send given OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer <token>).
   * Default: a random one, read back from `receiver.token`.
   */
  token?: string;
  /** Serve only this experiment (run, variants) from the start; see TraceReceiver.expect(). */
  expect?: SpanExpectation;
  /** Largest request body as sent (after compression). Larger requests get 413. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Largest body after gunzip, against zip bombs. Default 4 x maxBodyBytes. */
  maxDecompressedBytes?: number;
  /**
   * Most bytes all request bodies being read may hold in memory together (compressed bodies
   * count by their decompressed size); a request that would exceed it gets 503 + Retry-After,
   * which OTLP exporters retry. Default 2 x the larger of maxBodyBytes and maxDecompressedBytes.
   */
  maxBufferedBytes?: number;
  /** Longest time a client may take to send its request headers (408). Default 10,000. */
  headersTimeoutMillis?: number;
  /** Longest time a client may take to send a request body, from its headers on (408). Default 30,000. */
  requestTimeoutMillis?: number;
  /**
   * Slowest body accepted: each minBodyRateWindowMillis of a body must bring this many bytes
   * per second of it (408 otherwise). Default 1,024; 0 turns the check off.
   */
  minBodyBytesPerSecond?: number;
  /** Window of the minimum rate check. Default 2,000. */
  minBodyRateWindowMillis?: number;
  /** Most TCP connections open at once; further ones are closed at once and counted. Default 512. */
  maxConnections?: number;
  /** Bounds of the span aggregation (keys in all and per variant, seconds and ids per key). */
  aggregation?: SpanAggregatorOptions;
  /**
   * Told about every refusal (a request, some spans of a request, a connection) as it happens,
   * e.g. to log it. Can fire thousands of times under a flood: throttle before printing. Must
   * not throw.
   */
  onRefused?: (refusal: { reason: RefusalReason; message: string; status?: number; spans: number }) => void;
}

type Encoding = 'protobuf' | 'json';

const MEDIA_TYPES: Record<string, Encoding> = {
  'application/x-protobuf': 'protobuf',
  'application/protobuf': 'protobuf',
  'application/json': 'json',
};

/** The encoding named by a Content-Type header, ignoring parameters such as charset. */
export function parseContentType(header: string | undefined): Encoding | undefined {
  if (header === undefined) return undefined;
  const media = header.split(';', 1)[0]!.trim().toLowerCase();
  return MEDIA_TYPES[media];
}

/** gRPC codes carried in google.rpc.Status bodies, as OTLP/HTTP asks. */
function grpcCodeFor(status: number): number {
  if (status === 401) return 16; // UNAUTHENTICATED
  if (status === 404 || status === 405) return 12; // UNIMPLEMENTED
  if (status === 503) return 14; // UNAVAILABLE
  if (status === 408) return 4; // DEADLINE_EXCEEDED
  if (status >= 500) return 13; // INTERNAL
  return 3; // INVALID_ARGUMENT
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new RangeError(
      `startTraceReceiver: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}`,
    );
  }
  return value;
}

function urlHost(address: string): string {
  // A wildcard bind is reached locally through loopback.
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

/** A raw answer for a connection whose HTTP could not be parsed (no ServerResponse exists). */
function closeWithRaw(socket: Socket, status: number, text: string): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MILLIS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  else socket.destroy();
}

export async function startTraceReceiver(options: TraceReceiverOptions = {}): Promise<TraceReceiver> {
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new TypeError('startTraceReceiver: host must be an address');
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startTraceReceiver: port must be an integer 0..65535, got ${port}`);
  }
  const token = options.token === undefined ? newBearerToken() : checkBearerToken(options.token, 'startTraceReceiver');
  const maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, 8 * 1024 * 1024);
  const maxDecompressedBytes = positive('maxDecompressedBytes', options.maxDecompressedBytes, 4 * maxBodyBytes);
  const largestBody = Math.max(maxBodyBytes, maxDecompressedBytes);
  const maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes, 2 * largestBody);
  if (maxBufferedBytes < largestBody) {
    throw new RangeError(
      `startTraceReceiver: maxBufferedBytes (${maxBufferedBytes}) must be at least maxBodyBytes and ` +
        `maxDecompressedBytes (${largestBody}), or the largest allowed body could never be read`,
    );
  }
  const headersTimeoutMillis = positive('headersTimeoutMillis', options.headersTimeoutMillis, 10_000);
  const requestTimeoutMillis = positive('requestTimeoutMillis', options.requestTimeoutMillis, 30_000);
  const minBodyBytesPerSecond = positive('minBodyBytesPerSecond', options.minBodyBytesPerSecond, 1_024, true);
  const minBodyRateWindowMillis = positive('minBodyRateWindowMillis', options.minBodyRateWindowMillis, 2_000);
  const maxConnections = positive('maxConnections', options.maxConnections, 512);
  const aggregator = new SpanAggregator({
    ...options.aggregation,
    ...(options.expect ? { expect: options.expect } : {}),
  });
  const budget = new ByteBudget(maxBufferedBytes);
  const refusals = new RefusalCounter();
  const onRefused = options.onRefused ?? (() => {});
  const counters = { spansAccepted: 0, requestsRejected: 0, requestsAccepted: 0, bytesReceived: 0 };
  let requestsInProgress = 0;
  let connections = 0;
  /** Sockets whose request body is being read, with the way to end that read. */
  const reading = new WeakMap<Socket, AbortController>();

  const refused = (reason: RefusalReason, message: string, spans: number, status?: number) => {
    refusals.count(reason, message, spans);
    try {
      onRefused({ reason, message, spans, ...(status !== undefined ? { status } : {}) });
    } catch {
      // A logging callback must not take the receiver down.
    }
  };

  const send = (req: IncomingMessage, res: ServerResponse, status: number, encoding: Encoding, body: Buffer | string) =>
    respond(
      req,
      res,
      status,
      { 'content-type': encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json' },
      body,
      { lingerMillis: LINGER_MILLIS },
    );

  const reject = (req: IncomingMessage, res: ServerResponse, encoding: Encoding, error: HttpError) => {
    counters.requestsRejected++;
    refused(error.reason, error.message, 0, error.status);
    if (res.headersSent || res.destroyed) return;
    if (error.status === 401) res.setHeader('www-authenticate', 'Bearer realm="conclab"');
    if (error.status === 405) res.setHeader('allow', 'POST');
    if (error.status === 503) res.setHeader('retry-after', '1');
    const code = grpcCodeFor(error.status);
    send(
      req,
      res,
      error.status,
      encoding,
      encoding === 'protobuf' ? encodeStatusProtobuf(code, error.message) : encodeStatusJson(code, error.message),
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const encoding = parseContentType(req.headers['content-type']);
    const replyEncoding = encoding ?? 'json';
    // First, before anything of the request is looked at or read: only the run's exporters may
    // cost this receiver more than a header parse.
    if (!bearerTokenMatches(req.headers.authorization, token)) {
      const why = req.headers.authorization === undefined ? 'no authorization header' : 'wrong bearer token';
      return reject(
        req,
        res,
        replyEncoding,
        new HttpError(401, `${why}: send authorization: Bearer <the token of this run's receiver>`),
      );
    }
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== TRACES_PATH) {
      return reject(req, res, replyEncoding, new HttpError(404, `no such endpoint; POST traces to ${TRACES_PATH}`));
    }
    if (req.method !== 'POST') {
      return reject(req, res, replyEncoding, new HttpError(405, `method ${req.method} not allowed; use POST`));
    }
    if (encoding === undefined) {
      const given = (req.headers['content-type'] ?? '').slice(0, 60);
      return reject(
        req,
        res,
        replyEncoding,
        new HttpError(415, `unsupported Content-Type "${given}": send application/x-protobuf or application/json`),
      );
    }
    let spans: DecodedSpan[];
    const lease = budget.lease();
    const abort = new AbortController();
    reading.set(req.socket, abort);
    requestsInProgress++;
    try {
      const body = await readRequestBody(req, {
        maxBytes: maxBodyBytes,
        maxDecompressedBytes,
        deadlineMillis: requestTimeoutMillis,
        minBytesPerSecond: minBodyBytesPerSecond,
        minRateWindowMillis: minBodyRateWindowMillis,
        budget: lease,
        signal: abort.signal,
        onWireBytes: (n) => {
          counters.bytesReceived += n;
        },
      });
      const decodeOptions = { attributeKeys: AGGREGATED_ATTRIBUTES };
      spans =
        encoding === 'protobuf'
          ? decodeTraceRequestProtobuf(body, decodeOptions)
          : decodeTraceRequestJson(body, decodeOptions);
    } catch (error) {
      if (error instanceof HttpError) return reject(req, res, encoding, error);
      if (error instanceof OtlpDecodeError) return reject(req, res, encoding, new HttpError(400, error.message));
      throw error;
    } finally {
      requestsInProgress--;
      reading.delete(req.socket);
      lease.release();
    }
    const result = aggregator.addAll(spans);
    counters.spansAccepted += result.accepted;
    counters.requestsAccepted++;
    const messages: string[] = [];
    for (const reason of ['unexpected', 'keyLimit', 'malformed'] as const) {
      const n = result.refused[reason];
      if (n === 0) continue;
      const message = result.messages[reason] ?? reason;
      refused(reason, message, n);
      messages.push(`${n} spans refused (${reason}): ${message}`);
    }
    const message = messages.join('; ');
    send(
      req,
      res,
      200,
      encoding,
      encoding === 'protobuf'
        ? encodeTraceResponseProtobuf(result.dropped, message)
        : encodeTraceResponseJson(result.dropped, message),
    );
  };

  const server: Server = createServer(
    {
      headersTimeout: headersTimeoutMillis,
      // A backstop only: the body deadline and the linger after a refusal end requests first.
      requestTimeout: headersTimeoutMillis + requestTimeoutMillis + LINGER_MILLIS + 5_000,
      // Node checks both timeouts on this interval (default 30 s, which would let a slow client
      // overstay its headers deadline by up to 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeoutMillis / 4))),
    },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        // A bug of ours, not the client's: answer 500 and keep serving.
        counters.requestsRejected++;
        const message = error instanceof Error ? error.message : String(error);
        try {
          send(req, res, 500, 'json', encodeStatusJson(13, `internal error: ${message.slice(0, 200)}`));
        } catch {
          res.destroy();
        }
      });
    },
  );
  server.maxConnections = maxConnections;
  server.on('connection', (socket: Socket) => {
    connections++;
    socket.once('close', () => connections--);
  });
  server.on('drop', () => {
    refused('connectionLimit', `${maxConnections} connections were open (maxConnections)`, 0);
  });
  // Errors below HTTP: a request that is not HTTP, headers too large, headers (or, as a
  // backstop, a whole request) not received in time, a connection reset. With this listener
  // Node leaves the socket to us.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const code = error.code ?? '';
    const timeout = code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (isClosingAfterRefusal(socket)) return socket.destroy();
    const read = reading.get(socket);
    if (read) {
      // The request's own read ends with the right reason and is answered and counted there.
      if (timeout) return read.abort(new HttpError(408, 'the request was not received in time'));
      // The client closed its side mid-body (llhttp reports the early end as a parse error).
      if (code === 'HPE_INVALID_EOF_STATE' || !code.startsWith('HPE_')) {
        read.abort(new HttpError(400, 'the client closed the connection before sending the whole body', 'aborted'));
        return socket.destroy();
      }
      return read.abort(new HttpError(400, `malformed HTTP body framing: ${error.message}`));
    }
    if (timeout) {
      counters.requestsRejected++;
      refused('timeout', `request headers not received within ${headersTimeoutMillis} ms`, 0, 408);
      return closeWithRaw(socket, 408, 'Request Timeout');
    }
    if (code === 'HPE_HEADER_OVERFLOW') {
      counters.requestsRejected++;
      refused('malformed', 'request headers too large', 0, 431);
      return closeWithRaw(socket, 431, 'Request Header Fields Too Large');
    }
    if (code.startsWith('HPE_')) {
      counters.requestsRejected++;
      refused('malformed', `not HTTP: ${error.message}`, 0, 400);
      return closeWithRaw(socket, 400, 'Bad Request');
    }
    // ECONNRESET and the like: the client went away; nothing to answer.
    socket.destroy();
  });

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen({ host, port }, () => {
      server.removeListener('error', rejectListen);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${urlHost(address.address)}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    token,
    aggregates(filter?: Partial<SpanKey>): SpanAggregate[] {
      return aggregator.aggregates(filter);
    },
    stats(): TraceReceiverStats {
      return {
        ...counters,
        spansDropped: aggregator.dropped,
        requestsInProgress,
        bufferedBytes: budget.used,
        connections,
        keys: aggregator.keyCount,
        refused: refusals.snapshot(),
      };
    },
    health(): TraceReceiverHealth {
      return refusals.health();
    },
    expect(expectation: SpanExpectation | undefined): void {
      aggregator.expect(expectation);
    },
    clear(filter?: Partial<SpanKey>): void {
      aggregator.clear(filter);
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Exporters keep connections alive; without this close() would wait for them to idle out.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
