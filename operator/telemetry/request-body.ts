// One bounded way to read an HTTP request body, and one way to answer without losing the answer,
// for every endpoint a workload or load pod posts to (the OTLP receiver, the operator's results
// endpoint). Reading is bounded in every dimension a client controls:
//   - size: a declared Content-Length over the limit is refused before a byte is read; without
//     one the limit is enforced while streaming;
//   - decompressed size: a few kilobytes of gzip can inflate to gigabytes (a zip bomb), so the
//     output of gunzip is counted as it streams and cut at its own limit;
//   - time: the whole body must arrive within a deadline, and every window of time must bring a
//     minimum number of bytes, so a client trickling a byte a second is cut off early;
//   - memory across requests: optionally every byte kept is taken from a shared ByteBudget.
// Answering: a refusal is usually sent while the client is still uploading. Closing the
// connection at once would make the kernel reset it, and a reset can destroy the answer in the
// client's buffers before it reads it (RFC 9112 section 9.6), so the client would never SEE its
// 413 or 401. respond() asks the client to close and closes in stages instead.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createGunzip } from 'node:zlib';
import type { ByteLease } from './byte-budget.ts';
import type { RefusalReason } from './types.ts';

/** A request an endpoint refuses; status and message go back to the sender. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  /** What a receiver counts it as. */
  readonly reason: RefusalReason;
  constructor(status: number, message: string, reason: RefusalReason = reasonForStatus(status)) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/** The refusal reason an HTTP status stands for. */
export function reasonForStatus(status: number): RefusalReason {
  if (status === 401 || status === 403) return 'unauthenticated';
  if (status === 408) return 'timeout';
  if (status === 413) return 'tooLarge';
  if (status === 503) return 'busy';
  if (status === 404 || status === 405 || status === 415) return 'unsupported';
  return 'malformed';
}

export interface BodyLimits {
  /** Largest body as sent on the wire (compressed size for gzip): 413 beyond. */
  maxBytes: number;
  /** Largest body after gunzip: 413 beyond. Default 4 x maxBytes. */
  maxDecompressedBytes?: number;
  /** The whole body must have arrived this long after reading starts: 408 otherwise. Default 30,000. */
  deadlineMillis?: number;
  /**
   * Every minRateWindowMillis must bring at least this many bytes per second of it (on the
   * wire), else 408: a client trickling a body cannot hold a connection until the deadline.
   * Default 1,024; 0 turns the check off.
   */
  minBytesPerSecond?: number;
  /** Length of the windows the minimum rate is checked over. Default 2,000. */
  minRateWindowMillis?: number;
  /** Every byte kept in memory is taken from this lease: 503 when it cannot be had. */
  budget?: ByteLease;
  /** Told the size of every chunk as it arrives on the wire, e.g. for a bytes-received counter. */
  onWireBytes?: (bytes: number) => void;
  /** Ends the read early; rejects with the signal's reason when it is an HttpError (else 400 aborted). */
  signal?: AbortSignal;
}

/** The Content-Encoding values we can read; anything else is answered with 415. */
export function parseContentEncoding(header: string | undefined): 'identity' | 'gzip' {
  const value = (header ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  throw new HttpError(415, `unsupported Content-Encoding "${value.slice(0, 40)}": send gzip or no encoding`);
}

function checkLimit(name: string, value: number | undefined, fallback?: number, allowZero = false): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new RangeError(
      `readRequestBody: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}`,
    );
  }
  return value;
}

/**
 * Resolves with the whole (decompressed) body, or rejects with HttpError: 413 over a size limit
 * (before reading anything when Content-Length says so), 408 too slow, 503 out of budget, 415
 * unknown encoding, 400 broken gzip or an aborted upload. Stops reading as soon as it fails and
 * leaves the rest of the body to respond(), which discards it.
 */
export function readRequestBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  let encoding: 'identity' | 'gzip';
  let maxDecompressedBytes: number;
  let deadlineMillis: number;
  let minBytesPerSecond: number;
  let windowMillis: number;
  try {
    const maxBytes = checkLimit('maxBytes', limits.maxBytes);
    maxDecompressedBytes = checkLimit('maxDecompressedBytes', limits.maxDecompressedBytes, 4 * maxBytes);
    deadlineMillis = checkLimit('deadlineMillis', limits.deadlineMillis, 30_000);
    minBytesPerSecond = checkLimit('minBytesPerSecond', limits.minBytesPerSecond, 1024, true);
    windowMillis = checkLimit('minRateWindowMillis', limits.minRateWindowMillis, 2_000);
    encoding = parseContentEncoding(req.headers['content-encoding']);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      throw new HttpError(413, `body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`);
    }
  } catch (error) {
    return Promise.reject(error);
  }
  const { maxBytes, budget, onWireBytes } = limits;

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let bodyBytes = 0;
    let settled = false;
    const gunzip = encoding === 'gzip' ? createGunzip() : undefined;

    const deadline = setTimeout(() => {
      fail(new HttpError(408, `the body did not arrive within ${deadlineMillis} ms`));
    }, deadlineMillis);
    deadline.unref();
    let wireBytesAtWindowStart = 0;
    const minPerWindow = (minBytesPerSecond * windowMillis) / 1000;
    const rateCheck =
      minBytesPerSecond > 0
        ? setInterval(() => {
            // Decided after this loop turn's I/O: when the event loop was busy, bytes that already
            // arrived are counted before the client is judged slow.
            setImmediate(() => {
              if (settled) return;
              const got = wireBytes - wireBytesAtWindowStart;
              wireBytesAtWindowStart = wireBytes;
              if (got < minPerWindow) {
                fail(
                  new HttpError(
                    408,
                    `the body arrived too slowly: ${got} bytes in ${windowMillis} ms, ` +
                      `below the minimum of ${minBytesPerSecond} bytes/s`,
                  ),
                );
              }
            });
          }, windowMillis)
        : undefined;
    rateCheck?.unref();

    const stop = () => {
      settled = true;
      clearTimeout(deadline);
      if (rateCheck) clearInterval(rateCheck);
      req.removeListener('data', onData);
      limits.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: HttpError) => {
      if (settled) return;
      stop();
      // Unread bytes are discarded from here on (respond() then closes the connection in stages).
      req.resume();
      gunzip?.destroy();
      reject(error);
    };
    const finish = () => {
      if (settled) return;
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bodyBytes));
    };
    const keep = (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (gunzip && bodyBytes > maxDecompressedBytes) {
        fail(new HttpError(413, `decompressed body exceeds the limit of ${maxDecompressedBytes} bytes`));
        return;
      }
      if (budget && !budget.take(chunk.length)) {
        fail(new HttpError(503, 'busy: request bodies in memory are at the limit; retry later'));
        return;
      }
      chunks.push(chunk);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      wireBytes += chunk.length;
      onWireBytes?.(chunk.length);
      if (wireBytes > maxBytes) {
        fail(new HttpError(413, `body exceeds the limit of ${maxBytes} bytes`));
        return;
      }
      if (gunzip) gunzip.write(chunk);
      else keep(chunk);
    };

    const onAbort = () => {
      const reason: unknown = limits.signal?.reason;
      fail(reason instanceof HttpError ? reason : new HttpError(400, 'the request was aborted', 'aborted'));
    };
    if (limits.signal?.aborted) return onAbort();
    limits.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('data', onData);
    req.on('error', () => fail(new HttpError(400, 'the request body was not received completely', 'aborted')));
    // Whatever way a connection dies mid-upload, the promise must settle: a request that never
    // settled would hold its share of the memory budget forever.
    req.on('close', () => {
      if (!req.complete) {
        fail(new HttpError(400, 'the client closed the connection before sending the whole body', 'aborted'));
      }
    });
    if (gunzip) {
      gunzip.on('data', (chunk: Buffer) => {
        if (!settled) keep(chunk);
      });
      gunzip.on('end', finish);
      gunzip.on('error', (error) => fail(new HttpError(400, `invalid gzip body: ${error.message}`)));
      req.on('end', () => {
        if (!settled) gunzip.end();
      });
    } else {
      req.on('end', finish);
    }
  });
}

export interface RespondOptions {
  /** After a refusal, how long to keep reading (and discarding) what the client still sends. Default 2,000. */
  lingerMillis?: number;
  /** ... and how many bytes at most. Default 4 MiB. */
  maxDiscardBytes?: number;
}

const closingSockets = new WeakSet<Socket>();

/**
 * True while respond() is closing this connection after a refusal. A server's 'clientError'
 * handler should ignore errors of such a socket (the client's half-sent body ends it early);
 * they are not new problems.
 */
export function isClosingAfterRefusal(socket: Socket): boolean {
  return closingSockets.has(socket);
}

/** Whether part of the request's body was never read. */
function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Sends a whole response. When part of the request body was never read (a refusal before or
 * while reading), asks the client to close (`Connection: close`) and closes in stages: FIN after
 * the response, then discard what still arrives until the client closes, for at most
 * lingerMillis and maxDiscardBytes, so that the client reads the response instead of a reset.
 */
export function respond(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string | Buffer,
  options: RespondOptions = {},
): void {
  if (res.headersSent || res.destroyed || res.writableEnded) return;
  if (hasUnreadBody(req)) {
    res.setHeader('connection', 'close');
    closeInStages(req, options.lingerMillis ?? 2_000, options.maxDiscardBytes ?? 4 * 1024 * 1024);
  }
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function closeInStages(req: IncomingMessage, lingerMillis: number, maxDiscardBytes: number): void {
  const socket = req.socket;
  if (closingSockets.has(socket)) return;
  closingSockets.add(socket);
  // The rest of the body is parsed and dropped; nobody keeps it.
  req.resume();
  // Node ends a `Connection: close` response with socket.destroySoon(): FIN, then close as soon
  // as the FIN is written, which resets a client still uploading. For this one socket, close in
  // stages instead. (Should Node stop calling destroySoon, its own close still sends the answer.)
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    const close = () => socket.destroy();
    const timer = setTimeout(close, lingerMillis);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    let discarded = 0;
    socket.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > maxDiscardBytes) close();
    });
    socket.once('end', close);
    socket.end();
  };
}

/**
 * readRequestBody for a plain endpoint: resolves with the body, or answers the refusal itself
 * (status and a text/plain reason, closing the connection in stages) and resolves undefined.
 * Check the token before calling it, so that nothing of an unauthenticated body is read.
 */
export async function readBoundedBody(
  req: IncomingMessage,
  res: ServerResponse,
  limits: BodyLimits,
): Promise<Buffer | undefined> {
  try {
    return await readRequestBody(req, limits);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    const headers: OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8' };
    if (error.status === 503) headers['retry-after'] = '1';
    respond(req, res, error.status, headers, `${error.message}\n`);
    return undefined;
  }
}
