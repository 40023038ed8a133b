// Structured logs: one JSON object per line on stdout, each with an "event" field. Lines stay
// below the pipe's atomic write size, so lines of several processes never interleave.
export function logEvent(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** Epoch milliseconds with sub-millisecond precision, comparable across threads. */
export function epochMillis(): number {
  return performance.timeOrigin + performance.now();
}
