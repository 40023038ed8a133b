// The receiver's account of what it refused, per reason, so that a refused export is never
// silent: the caller warns in the terminal and the report says "N spans were refused (reason)".
import { REFUSAL_REASONS, type RefusalCount, type RefusalReason, type TraceReceiverHealth } from './types.ts';

/** How each reason reads in a sentence. */
const LABELS: Record<RefusalReason, string> = {
  unauthenticated: 'unauthenticated: no or wrong bearer token',
  unexpected: 'not of the experiment and run this receiver serves',
  keyLimit: 'key limit reached',
  tooLarge: 'too large',
  malformed: 'malformed',
  timeout: 'sent too slowly or not at all in time',
  busy: 'receiver busy: too many request bodies in memory',
  unsupported: 'wrong path, method, content type or encoding',
  aborted: 'client disconnected before sending the whole body',
  connectionLimit: 'too many connections open',
};

const SPAN_REASONS: ReadonlySet<RefusalReason> = new Set(['unexpected', 'keyLimit']);

/** Longest message kept per reason: it quotes what a client sent. */
const MAX_MESSAGE = 300;

/**
 * Makes client-controlled text safe to print: anything but printable ASCII becomes "?", so a
 * span attribute cannot move a terminal's cursor or forge a line of the report.
 */
export function printable(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}

const fmt = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, one: string, many: string) => `${fmt(n)} ${n === 1 ? one : many}`;

/** One line for one reason, e.g. `3,000 spans refused (key limit reached): ...`. */
export function describeRefusal(reason: RefusalReason, count: RefusalCount): string {
  let what: string;
  if (reason === 'connectionLimit') what = plural(count.requests, 'connection', 'connections');
  else if (SPAN_REASONS.has(reason) || count.spans > 0) {
    what = `${plural(count.spans, 'span', 'spans')} in ${plural(count.requests, 'request', 'requests')}`;
  } else what = plural(count.requests, 'export request', 'export requests');
  const detail = count.lastMessage ? `; last: ${count.lastMessage}` : '';
  return `${what} refused (${LABELS[reason]})${detail}`;
}

/** Counters per reason; a thin mutable shell around the pure description above. */
export class RefusalCounter {
  readonly #counts = new Map<RefusalReason, RefusalCount>(
    REFUSAL_REASONS.map((reason) => [reason, { requests: 0, spans: 0 }]),
  );

  /** Counts one refused request (or connection), with its spans when they are known. */
  count(reason: RefusalReason, message: string, spans = 0): void {
    const c = this.#counts.get(reason)!;
    c.requests++;
    c.spans += spans;
    c.lastMessage = printable(message, MAX_MESSAGE);
  }

  snapshot(): Record<RefusalReason, RefusalCount> {
    const out = {} as Record<RefusalReason, RefusalCount>;
    for (const [reason, c] of this.#counts) out[reason] = { ...c };
    return out;
  }

  health(): TraceReceiverHealth {
    const refused: Partial<Record<RefusalReason, RefusalCount>> = {};
    const problems: string[] = [];
    for (const [reason, c] of this.#counts) {
      if (c.requests === 0 && c.spans === 0) continue;
      refused[reason] = { ...c };
      problems.push(describeRefusal(reason, c));
    }
    return { clean: problems.length === 0, refused, problems };
  }
}
