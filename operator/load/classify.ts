// Which kind of failure a request met. Pure, so each mapping is table-tested.
import type { ErrorKind } from './types.ts';

export function newErrorCounts(): Record<ErrorKind, number> {
  return { refused: 0, reset: 0, timeout: 0, http4xx: 0, http5xx: 0, other: 0 };
}

/** Error codes from Node's net layer and undici that mean the connection was cut. */
const RESET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Error kind of an HTTP status, or undefined when the status counts as success (1xx-3xx). */
export function classifyStatus(status: number): ErrorKind | undefined {
  if (status >= 500 && status <= 599) return 'http5xx';
  if (status >= 400 && status <= 499) return 'http4xx';
  if (status >= 100 && status <= 399) return undefined;
  return 'other';
}

/**
 * Kind of a thrown request error. undici wraps the socket error at times (err.cause, or an
 * AggregateError when several addresses were tried), so the chain is searched, nearest first.
 */
export function classifyError(err: unknown): ErrorKind {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && seen.size < 16) {
    const e = queue.shift();
    if (seen.has(e)) continue;
    seen.add(e);
    const code = codeOf(e);
    if (code === 'ECONNREFUSED') return 'refused';
    if (code !== undefined && RESET_CODES.has(code)) return 'reset';
    if (code !== undefined && TIMEOUT_CODES.has(code)) return 'timeout';
    if (typeof e === 'object' && e !== null) {
      const { cause, errors } = e as { cause?: unknown; errors?: unknown };
      if (cause !== undefined) queue.push(cause);
      if (Array.isArray(errors)) queue.push(...errors);
    }
  }
  return 'other';
}
