// Bearer tokens for the endpoints workloads and load pods post to. A token is generated per run
// and handed to the exporters (OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer <token>), so
// nothing else that can reach the port can fill the receiver or pass for the run's spans.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** RFC 6750 token68 characters: what fits an Authorization header and an OTEL_* header list. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MIN_TOKEN_LENGTH = 16;

/** A fresh random token: 32 bytes, base64url (43 characters). */
export function newBearerToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Throws a TypeError naming the problem when `token` cannot serve as a bearer token. */
export function checkBearerToken(token: unknown, where: string): string {
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || !TOKEN.test(token)) {
    throw new TypeError(
      `${where}: token must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / ` +
        '(e.g. randomBytes(24).toString("base64url")), or left out to have one generated',
    );
  }
  return token;
}

/** The token of an `authorization: Bearer <token>` header (scheme case-insensitive), or ''. */
export function bearerTokenOf(header: string | undefined): string {
  if (header === undefined) return '';
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : '';
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * Whether the header presents `expected`. Both sides are hashed first, so the comparison takes
 * the same time whatever the presented token's length and content.
 */
export function bearerTokenMatches(header: string | undefined, expected: string): boolean {
  const presented = bearerTokenOf(header);
  // Hash even an absent token, so a missing header costs what a wrong one costs.
  const equal = timingSafeEqual(digest(presented), digest(expected));
  return equal && presented !== '';
}
