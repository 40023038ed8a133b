// Reads an HTTP request body with limits on both the bytes on the wire and, for gzip, the bytes
// after decompression: a few kilobytes of gzip can inflate to gigabytes (a zip bomb), so the
// decompressed size is counted as it streams out of gunzip and the stream is cut at the limit.
import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';

/** A request the receiver refuses; status and message go back to the sender. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface BodyLimits {
  /** Largest body as sent on the wire (compressed size for gzip). */
  maxBodyBytes: number;
  /** Largest body after gunzip. */
  maxDecompressedBytes: number;
}

/** The Content-Encoding values we can read; anything else is answered with 415. */
export function parseContentEncoding(header: string | undefined): 'identity' | 'gzip' {
  const value = (header ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  throw new HttpError(415, `unsupported Content-Encoding "${value.slice(0, 40)}": send gzip or no encoding`);
}

/**
 * Resolves with the whole (decompressed) body, or rejects with HttpError: 413 when a limit is
 * exceeded, 400 for broken gzip or an aborted upload. Stops reading as soon as it fails.
 */
export function readRequestBody(
  req: IncomingMessage,
  limits: BodyLimits,
  onWireBytes: (bytes: number) => void,
): Promise<Buffer> {
  const encoding = parseContentEncoding(req.headers['content-encoding']);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
    return Promise.reject(
      new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limits.maxBodyBytes} bytes`),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let bodyBytes = 0;
    let settled = false;
    const gunzip = encoding === 'gzip' ? createGunzip() : undefined;

    const fail = (error: HttpError) => {
      if (settled) return;
      settled = true;
      req.removeListener('data', onData);
      // Discard the rest of the upload so the response can still be read by the client.
      req.resume();
      gunzip?.destroy();
      reject(error);
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bodyBytes));
    };
    const keep = (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (gunzip && bodyBytes > limits.maxDecompressedBytes) {
        fail(new HttpError(413, `decompressed body exceeds the limit of ${limits.maxDecompressedBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      wireBytes += chunk.length;
      onWireBytes(chunk.length);
      if (wireBytes > limits.maxBodyBytes) {
        fail(new HttpError(413, `body exceeds the limit of ${limits.maxBodyBytes} bytes`));
        return;
      }
      if (gunzip) gunzip.write(chunk);
      else keep(chunk);
    };

    req.on('data', onData);
    req.on('error', () => fail(new HttpError(400, 'the request body was not received completely')));
    // Whatever way a connection dies mid-upload, the promise must settle: the receiver counts
    // requests in progress, and a request that never settles would hold its slot forever.
    req.on('close', () => {
      if (!req.complete) fail(new HttpError(400, 'the client closed the connection before sending the whole body'));
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
