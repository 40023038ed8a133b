// An incremental HTTP/1.1 response parser for the built-in driver's connections: it finds
// where each response ends and reads its status, and nothing else. Bodies are skipped, header
// values are read in place as bytes, never turned into strings, and nothing is allocated
// per response when the head arrives in one read (the usual case), which is what lets one
// core drive a server at close to its own speed. Pure: bytes in, positions out; table-tested
// with every split of the input.
//
// Framing as RFC 9112 section 6.3 gives it for responses to GET: 1xx heads are skipped (one
// final response follows); 204 and 304 have no body; Transfer-Encoding chunked (chunk
// extensions and trailers skipped); else Content-Length; else the body runs until the server
// closes the connection (`untilClose`, ended by `finishAtClose`).

/** Bytes allowed for a response head (status line and headers); a longer one is an error. */
export const MAX_HEAD_BYTES = 16 * 1024;

const CR = 13;
const LF = 10;

// Parser states (plain numbers: erasable syntax has no enums).
const State = {
  Head: 0,
  Length: 1,
  ChunkSize: 2,
  ChunkExt: 3,
  ChunkSizeLf: 4,
  ChunkData: 5,
  ChunkDataCr: 6,
  ChunkDataLf: 7,
  Trailer: 8,
  TrailerLf: 9,
  UntilClose: 10,
} as const;
type State = (typeof State)[keyof typeof State];

/** `name:` matched case-insensitively at buf[at]; names given in lower case. */
function headerIs(buf: Uint8Array, at: number, end: number, name: string): boolean {
  const n = name.length;
  if (end - at <= n || buf[at + n] !== 58 /* : */) return false;
  for (let i = 0; i < n; i++) {
    if (((buf[at + i] as number) | 0x20) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** The header value buf[from, to) holds `token` (lower case), matched case-insensitively. */
function valueHas(buf: Uint8Array, from: number, to: number, token: string): boolean {
  const n = token.length;
  const first = token.charCodeAt(0);
  for (let i = from; i + n <= to; i++) {
    if (((buf[i] as number) | 0x20) !== first) continue;
    let k = 1;
    while (k < n && ((buf[i + k] as number) | 0x20) === token.charCodeAt(k)) k++;
    if (k === n) return true;
  }
  return false;
}

/** The header value buf[from, to), trailing blanks ignored, ends with `token` (lower case). */
function valueEndsWith(buf: Uint8Array, from: number, to: number, token: string): boolean {
  let end = to;
  while (end > from && (buf[end - 1] === 32 || buf[end - 1] === 9)) end--;
  const n = token.length;
  if (end - from < n) return false;
  for (let k = 0; k < n; k++) {
    if (((buf[end - n + k] as number) | 0x20) !== token.charCodeAt(k)) return false;
  }
  return true;
}

export class ResponseParser {
  /** Status of the response being read (or just completed). */
  status = 0;
  /** The last complete response asked to close the connection (Connection: close or HTTP/1.0). */
  closeAfter = false;
  /** Set when the input is not HTTP/1.x; the connection must be dropped. */
  error: string | undefined;
  private state: State = State.Head;
  private remaining = 0;
  private head: Uint8Array | undefined;
  private headLength = 0;
  private lineStart = true;

  /** Forgets everything: the next byte is the start of a response. */
  reset(): void {
    this.state = State.Head;
    this.status = 0;
    this.closeAfter = false;
    this.error = undefined;
    this.headLength = 0;
  }

  /** True once a head was seen, before its response ended (or no byte read yet: false). */
  get inResponse(): boolean {
    return this.state !== State.Head || this.headLength > 0;
  }

  /** The body runs until the connection closes. */
  get untilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /**
   * Reads buf[start, end). Returns the index just past the end of the response when one
   * completed in it (the caller may feed the rest again for a next response), -1 when more
   * bytes are needed, -2 on a protocol error (see `error`).
   */
  feed(buf: Uint8Array, start: number, end: number): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case State.Head: {
          const next = this.readHead(buf, i, end);
          if (next < 0) return next;
          i = next;
          if (this.state === State.Head) {
            // A 1xx interim response, or a complete response without body.
            if (this.status >= 200) return i;
          }
          break;
        }
        case State.Length: {
          const take = Math.min(this.remaining, end - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) return this.complete(i);
          break;
        }
        case State.ChunkSize: {
          const c = buf[i] as number;
          const digit = c >= 48 && c <= 57 ? c - 48 : (c | 0x20) >= 97 && (c | 0x20) <= 102 ? (c | 0x20) - 87 : -1;
          if (digit >= 0) {
            this.remaining = this.remaining * 16 + digit;
            if (this.remaining > Number.MAX_SAFE_INTEGER / 32) return this.fail('chunk size too large');
          } else if (c === CR) this.state = State.ChunkSizeLf;
          else if (c === 59 /* ; */ || c === 32 || c === 9) this.state = State.ChunkExt;
          else return this.fail('bad chunk size');
          i++;
          break;
        }
        case State.ChunkExt: {
          const c = buf[i] as number;
          if (c === CR) this.state = State.ChunkSizeLf;
          else if (c === LF) this.afterChunkSize();
          i++;
          break;
        }
        case State.ChunkSizeLf:
          if (buf[i] !== LF) return this.fail('bad chunk size line');
          this.afterChunkSize();
          i++;
          break;
        case State.ChunkData: {
          const take = Math.min(this.remaining, end - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.ChunkDataCr;
          break;
        }
        case State.ChunkDataCr:
          if (buf[i] !== CR) return this.fail('chunk not followed by CRLF');
          this.state = State.ChunkDataLf;
          i++;
          break;
        case State.ChunkDataLf:
          if (buf[i] !== LF) return this.fail('chunk not followed by CRLF');
          this.state = State.ChunkSize;
          this.remaining = 0;
          i++;
          break;
        case State.Trailer: {
          // Trailer lines until an empty one; lineStart says whether this byte starts a line.
          const c = buf[i] as number;
          i++;
          if (c === CR) {
            if (this.lineStart) this.state = State.TrailerLf;
          } else if (c === LF) {
            if (this.lineStart) return this.complete(i);
            this.lineStart = true;
          } else this.lineStart = false;
          break;
        }
        case State.TrailerLf:
          if (buf[i] !== LF) return this.fail('bad end of trailers');
          return this.complete(i + 1);
        case State.UntilClose:
          return -1;
      }
    }
    return -1;
  }

  /** The connection closed: completes a body that runs until close; false if a response was cut. */
  finishAtClose(): boolean {
    if (this.state === State.UntilClose) {
      this.complete(0);
      return true;
    }
    return false;
  }

  private afterChunkSize(): void {
    if (this.remaining === 0) {
      this.state = State.Trailer;
      this.lineStart = true;
    } else this.state = State.ChunkData;
  }

  private complete(at: number): number {
    this.state = State.Head;
    this.headLength = 0;
    return at;
  }

  private fail(message: string): number {
    this.error = message;
    return -2;
  }

  /** Finds the end of the head from buf[i]; parses it; returns the index after it or -1/-2. */
  private readHead(buf: Uint8Array, i: number, end: number): number {
    if (this.headLength === 0) {
      const stop = indexOfHeadEnd(buf, i, end);
      if (stop >= 0) return this.parseHead(buf, i, stop);
    }
    // The head spans reads: keep its bytes until its end arrives.
    const have = this.headLength;
    const add = end - i;
    if (have + add > MAX_HEAD_BYTES) return this.fail(`response head above ${MAX_HEAD_BYTES} bytes`);
    this.head ??= new Uint8Array(MAX_HEAD_BYTES);
    this.head.set(buf.subarray(i, end), have);
    this.headLength = have + add;
    const stop = indexOfHeadEnd(this.head, Math.max(0, have - 3), this.headLength);
    if (stop < 0) return -1;
    const used = stop + 4 - have;
    const r = this.parseHead(this.head, 0, stop);
    this.headLength = 0;
    return r < 0 ? r : i + used;
  }

  /** Parses the head buf[from, stop) (stop is the index of its final CRLFCRLF). */
  private parseHead(buf: Uint8Array, from: number, stop: number): number {
    // "HTTP/1.x NNN"
    if (
      stop - from < 12 ||
      buf[from] !== 72 ||
      buf[from + 1] !== 84 ||
      buf[from + 2] !== 84 ||
      buf[from + 3] !== 80 ||
      buf[from + 4] !== 47 ||
      buf[from + 5] !== 49 ||
      buf[from + 6] !== 46
    ) {
      return this.fail('not an HTTP/1.x response');
    }
    const d0 = (buf[from + 9] as number) - 48;
    const d1 = (buf[from + 10] as number) - 48;
    const d2 = (buf[from + 11] as number) - 48;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.fail('bad status code');
    const status = d0 * 100 + d1 * 10 + d2;
    this.status = status;
    let close = buf[from + 7] === 48; // HTTP/1.0 closes unless it says keep-alive
    let length = -1;
    let chunked = false;
    // Header lines: each starts after a LF; the status line ends at the first one.
    let line = from;
    while (line < stop) {
      let eol = line;
      while (eol < stop && buf[eol] !== LF) eol++;
      const at = line === from ? -1 : line;
      if (at >= 0) {
        const lineEnd = buf[eol - 1] === CR ? eol - 1 : eol;
        const c = (buf[at] as number) | 0x20;
        if (c === 99 /* c */) {
          if (headerIs(buf, at, lineEnd, 'content-length')) {
            let n = 0;
            let digits = 0;
            for (let k = at + 15; k < lineEnd; k++) {
              const b = buf[k] as number;
              if (b >= 48 && b <= 57) {
                n = n * 10 + b - 48;
                digits++;
              } else if (b !== 32 && b !== 9) return this.fail('bad Content-Length');
            }
            if (digits === 0 || (length >= 0 && length !== n)) return this.fail('bad Content-Length');
            length = n;
          } else if (headerIs(buf, at, lineEnd, 'connection')) {
            if (valueHas(buf, at + 11, lineEnd, 'close')) close = true;
            else if (valueHas(buf, at + 11, lineEnd, 'keep-alive')) close = false;
          }
        } else if (c === 116 /* t */ && headerIs(buf, at, lineEnd, 'transfer-encoding')) {
          chunked = valueEndsWith(buf, at + 18, lineEnd, 'chunked');
        }
      }
      line = eol + 1;
    }
    const after = stop + 4;
    if (status < 200) {
      // Interim response (100 Continue, 103 Early Hints): the final one follows. 101 would
      // switch protocols, which a GET of ours never asks for.
      if (status === 101) return this.fail('unexpected 101 Switching Protocols');
      this.state = State.Head;
      return after;
    }
    this.closeAfter = close;
    if (status === 204 || status === 304) {
      this.state = State.Head;
      return after;
    }
    if (chunked) {
      this.state = State.ChunkSize;
      this.remaining = 0;
    } else if (length >= 0) {
      if (length === 0) {
        this.state = State.Head;
        return after;
      }
      this.state = State.Length;
      this.remaining = length;
    } else {
      this.state = State.UntilClose;
      this.closeAfter = true;
    }
    return after;
  }
}

/** Index of the CRLFCRLF ending a head in buf[from, end), or -1. */
function indexOfHeadEnd(buf: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 3 < end; i++) {
    if (buf[i + 3] === LF) {
      if (buf[i + 2] === CR && buf[i + 1] === LF && buf[i] === CR) return i;
    } else if (buf[i + 3] !== CR) i += 3;
  }
  return -1;
}
