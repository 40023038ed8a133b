// One typed family of controller errors. `kind` is stable: it becomes the `type` label of
// conclab_reconcile_errors_total, so renaming one is a breaking change for dashboards.
// `terminal` separates a bad spec (retrying cannot help; surface it in status) from a
// temporary failure (retry with backoff and jitter).

export const ErrorKind = {
  /** The spec breaks the schema or a rule; fixed only by editing the manifest. */
  InvalidSpec: 'InvalidSpec',
  /** Someone else changed the object between our read and write (409). */
  Conflict: 'Conflict',
  /** The object went away while we worked on it (404). */
  NotFound: 'NotFound',
  /** RBAC refused a request (403): the chart's Role is missing a rule. */
  Forbidden: 'Forbidden',
  /** The API server did not answer or answered 5xx/429. */
  ApiUnavailable: 'ApiUnavailable',
  /** The API server rejected a write we built (400/422): a bug in the operator. */
  ApiRejected: 'ApiRejected',
  /** Anything else: a bug. */
  Internal: 'Internal',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export class ControllerError extends Error {
  readonly kind: ErrorKind;
  readonly terminal: boolean;
  /** HTTP status from the API server, when the error came from it. */
  readonly statusCode: number | undefined;
  constructor(
    kind: ErrorKind,
    message: string,
    options: { terminal?: boolean; statusCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ControllerError';
    this.kind = kind;
    this.terminal = options.terminal ?? kind === ErrorKind.InvalidSpec;
    this.statusCode = options.statusCode;
  }
}

/** Maps an HTTP status from the API server to an error kind. */
export function kindForStatus(code: number | undefined): ErrorKind {
  if (code === undefined) return ErrorKind.ApiUnavailable;
  if (code === 409) return ErrorKind.Conflict;
  if (code === 404) return ErrorKind.NotFound;
  if (code === 401 || code === 403) return ErrorKind.Forbidden;
  if (code === 400 || code === 422) return ErrorKind.ApiRejected;
  if (code === 429 || code >= 500) return ErrorKind.ApiUnavailable;
  return ErrorKind.Internal;
}

/** The HTTP status carried by a client-node ApiException (`.code`) or a watch error (`.statusCode`). */
export function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** Anything thrown -> a ControllerError, keeping the API server's message (it names the field). */
export function toControllerError(err: unknown, context: string): ControllerError {
  if (err instanceof ControllerError) return err;
  const code = statusCodeOf(err);
  const body = (err as { body?: unknown })?.body;
  let detail = err instanceof Error ? err.message : String(err);
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) detail = status.message;
    } catch {
      // Not a Status object; keep the exception's own message.
    }
  } else if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    detail = (body as { message: string }).message;
  }
  const kind = code === undefined && !isNetworkError(err) ? ErrorKind.Internal : kindForStatus(code);
  return new ControllerError(kind, `${context}: ${detail}`, {
    ...(code === undefined ? {} : { statusCode: code }),
    cause: err,
  });
}

function isNetworkError(err: unknown): boolean {
  const code =
    (err as { cause?: { code?: unknown }; code?: unknown })?.cause?.code ?? (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|UND_ERR)/.test(code);
}
