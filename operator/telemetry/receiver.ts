// The OTLP/HTTP trace receiver: `POST /v1/traces` with protobuf or JSON bodies, optionally
// gzip-compressed, decoded and aggregated as they arrive. Responses follow the OTLP/HTTP spec:
// 200 with an ExportTraceServiceResponse in the request's encoding (partial_success filled in
// only when spans were refused), 4xx with a google.rpc.Status describing the problem. Nothing a
// client sends can crash it: every failure is answered and counted.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGGREGATED_ATTRIBUTES, SpanAggregator, type SpanAggregatorOptions } from './aggregator.ts';
import { decodeTraceRequestJson, encodeStatusJson, encodeTraceResponseJson } from './otlp-json.ts';
import { decodeTraceRequestProtobuf, encodeStatusProtobuf, encodeTraceResponseProtobuf } from './otlp-protobuf.ts';
import { HttpError, readRequestBody } from './request-body.ts';
import { OtlpDecodeError } from './span.ts';
import type { SpanAggregate, SpanKey, TraceReceiver } from './types.ts';

export const TRACES_PATH = '/v1/traces';

export interface TraceReceiverOptions {
  /**
   * Address to bind. Default 127.0.0.1 (loopback only); the operator binds 0.0.0.0 in a cluster so
   * that workload pods can reach it through a Service.
   */
  host?: string;
  /** TCP port; 0 (the default) lets the kernel pick a free one, read it back from `url`. */
  port?: number;
  /** Largest request body as sent (after compression). Larger requests get 413. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Largest body after gunzip, against zip bombs. Default 4 x maxBodyBytes. */
  maxDecompressedBytes?: number;
  /** Longest time a client may take to send one request, headers and body. Default 30,000. */
  requestTimeoutMillis?: number;
  /**
   * Most requests read at once; further ones get 503 with Retry-After, which OTLP exporters
   * retry. Bounds memory to about this many x maxDecompressedBytes. Default 16.
   */
  maxConcurrentRequests?: number;
  /** Bounds of the span aggregation (keys, seconds and ids per key). */
  aggregation?: SpanAggregatorOptions;
  /** Told about each refused request (status and reason), e.g. to log it. Must not throw. */
  onRejected?: (status: number, reason: string) => void;
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
  if (status === 404 || status === 405) return 12; // UNIMPLEMENTED
  if (status === 503) return 14; // UNAVAILABLE
  if (status >= 500) return 13; // INTERNAL
  return 3; // INVALID_ARGUMENT
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`startTraceReceiver: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function urlHost(address: string): string {
  // A wildcard bind is reached locally through loopback.
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

export async function startTraceReceiver(options: TraceReceiverOptions = {}): Promise<TraceReceiver> {
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new TypeError('startTraceReceiver: host must be an address');
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startTraceReceiver: port must be an integer 0..65535, got ${port}`);
  }
  const maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, 8 * 1024 * 1024);
  const maxDecompressedBytes = positive('maxDecompressedBytes', options.maxDecompressedBytes, 4 * maxBodyBytes);
  const requestTimeoutMillis = positive('requestTimeoutMillis', options.requestTimeoutMillis, 30_000);
  const maxConcurrentRequests = positive('maxConcurrentRequests', options.maxConcurrentRequests, 16);
  let inFlight = 0;
  const aggregator = new SpanAggregator(options.aggregation);
  const onRejected = options.onRejected ?? (() => {});
  const stats = { spansAccepted: 0, requestsRejected: 0, bytesReceived: 0 };

  const send = (res: ServerResponse, status: number, encoding: Encoding, body: Buffer | string) => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, {
      'content-type': encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  const reject = (req: IncomingMessage, res: ServerResponse, encoding: Encoding, error: HttpError) => {
    stats.requestsRejected++;
    try {
      onRejected(error.status, error.message);
    } catch {
      // A logging callback must not take the receiver down.
    }
    if (res.headersSent || res.destroyed) return;
    if (error.status === 405) res.setHeader('allow', 'POST');
    if (error.status === 503) res.setHeader('retry-after', '1');
    // After a refused upload the connection may hold unread bytes: do not reuse it.
    if (!req.complete) res.setHeader('connection', 'close');
    const code = grpcCodeFor(error.status);
    send(
      res,
      error.status,
      encoding,
      encoding === 'protobuf' ? encodeStatusProtobuf(code, error.message) : encodeStatusJson(code, error.message),
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const encoding = parseContentType(req.headers['content-type']);
    const replyEncoding = encoding ?? 'json';
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
    if (inFlight >= maxConcurrentRequests) {
      return reject(req, res, encoding, new HttpError(503, `busy: ${inFlight} requests in progress; retry later`));
    }
    let spans: ReturnType<typeof decodeTraceRequestProtobuf>;
    inFlight++;
    try {
      const body = await readRequestBody(req, { maxBodyBytes, maxDecompressedBytes }, (n) => {
        stats.bytesReceived += n;
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
      inFlight--;
    }
    const { accepted, dropped } = aggregator.addAll(spans);
    stats.spansAccepted += accepted;
    const message = dropped > 0 ? `${dropped} spans refused: the receiver holds its maximum number of keys` : '';
    send(
      res,
      200,
      encoding,
      encoding === 'protobuf'
        ? encodeTraceResponseProtobuf(dropped, message)
        : encodeTraceResponseJson(dropped, message),
    );
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A bug of ours, not the client's: answer 500 and keep serving.
      const message = error instanceof Error ? error.message : String(error);
      try {
        reject(req, res, 'json', new HttpError(500, `internal error: ${message.slice(0, 200)}`));
      } catch {
        res.destroy();
      }
    });
  });
  server.requestTimeout = requestTimeoutMillis;
  server.headersTimeout = Math.min(requestTimeoutMillis, 60_000);

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
    aggregates(filter?: Partial<SpanKey>): SpanAggregate[] {
      return aggregator.aggregates(filter);
    },
    stats() {
      return { ...stats, spansDropped: aggregator.dropped };
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
