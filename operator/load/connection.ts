// One keep-alive HTTP/1.1 connection of the built-in driver, carrying one request at a time.
//
// Why not an HTTP client library: at tens of thousands of requests per second on one core,
// what a general client does per request (request objects, header maps, promises or
// handler chains, a WebAssembly parser call per callback) costs about as much CPU as the
// server under test spends answering, so the generator, not the server, would set the
// highest rate. Here a request is one write of bytes prepared once per target, a response
// is read in place from one buffer shared by every plain-TCP socket (net's `onread`), and the
// only per-request state is a few numbers on this object, owned by the driver.
import net from 'node:net';
import tls from 'node:tls';
import { classifyError } from './classify.ts';
import { ResponseParser } from './http1-response.ts';
import type { ErrorKind } from './types.ts';

/** The driver's side: told once per request how it ended. */
export interface ConnectionOwner {
  /** The request on `c` ended: an error kind, or undefined for a response with `status`. */
  settled(c: Connection, kind: ErrorKind | undefined, status: number): void;
}

/** Where a target lives and the request bytes to send to it. */
export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  /** The whole request head, ready to write. */
  request: Buffer;
}

/** The request head for a GET of `url` with `headers`, encoded once. */
export function requestBytes(url: URL, headers: Readonly<Record<string, string>>): Buffer {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new RangeError(`header ${JSON.stringify(name)} holds a line break; give headers without CR or LF`);
    }
    if (name.toLowerCase() === 'host') continue;
    head += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}

export function endpointOf(url: URL, headers: Readonly<Record<string, string>>): Endpoint {
  const secure = url.protocol === 'https:';
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    tls: secure,
    request: requestBytes(url, headers),
  };
}

/** Read buffer shared by every plain socket: each read is parsed before the next can arrive. */
const SHARED_READ = Buffer.allocUnsafe(64 * 1024);

export class Connection {
  readonly target: number;
  readonly slot: number;
  /** A request is outstanding on this connection. */
  busy = false;
  /** Driver bookkeeping of the outstanding request (ms on the driver's clock). */
  intendedMillis = 0;
  deadlineMillis = 0;
  measured = false;
  private socket: net.Socket | undefined;
  private readonly parser = new ResponseParser();
  private readonly endpoint: Endpoint;
  private readonly owner: ConnectionOwner;
  private readonly connectTimeoutMillis: number;

  constructor(target: number, slot: number, endpoint: Endpoint, owner: ConnectionOwner, connectTimeoutMillis: number) {
    this.target = target;
    this.slot = slot;
    this.endpoint = endpoint;
    this.owner = owner;
    this.connectTimeoutMillis = connectTimeoutMillis;
  }

  /** True while a socket is open (for tests and the connection count). */
  get open(): boolean {
    return this.socket !== undefined;
  }

  /** Sends the endpoint's request; opens a socket first when none is usable. */
  send(): void {
    let s = this.socket;
    if (s !== undefined && (s.destroyed || !s.writable)) {
      // The server closed it while idle (keep-alive timeout): never write into a closing socket.
      this.drop(s);
      s = undefined;
    }
    this.busy = true;
    this.parser.reset();
    if (s === undefined) s = this.connect();
    s.write(this.endpoint.request);
  }

  /** Gives up the outstanding request (timeout, end of run): the socket is cut, so its answer is never read. */
  abandon(): void {
    this.busy = false;
    const s = this.socket;
    if (s !== undefined) this.drop(s);
  }

  /** Closes the connection for good. */
  close(): void {
    this.busy = false;
    const s = this.socket;
    if (s !== undefined) this.drop(s);
  }

  private drop(s: net.Socket): void {
    if (this.socket === s) this.socket = undefined;
    s.destroy();
  }

  private connect(): net.Socket {
    const { host, port } = this.endpoint;
    let s: net.Socket;
    if (this.endpoint.tls) {
      s = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] });
      s.setNoDelay(true);
      s.on('data', (chunk: Buffer) => this.read(s, chunk, chunk.length));
    } else {
      s = net.connect({
        host,
        port,
        noDelay: true,
        onread: { buffer: SHARED_READ, callback: (n: number, buf: Uint8Array) => this.read(s, buf, n) !== false },
      });
    }
    this.socket = s;
    // A connect that hangs (a dropped SYN) is ended by the driver's request deadline; this only
    // frees the socket if the driver's sweep already moved on.
    s.setTimeout(this.connectTimeoutMillis + 1000, () => s.destroy());
    s.once('connect', () => s.setTimeout(0));
    s.on('error', (err: Error) => {
      if (this.socket !== s) return;
      this.socket = undefined;
      if (this.busy) this.settle(classifyError(err), 0);
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      if (!this.busy) return;
      // A body that runs until close ends here; anything else was cut (the server closed
      // or reset the connection under the request), as undici reports "other side closed".
      if (this.parser.finishAtClose()) this.settle(undefined, this.parser.status);
      else this.settle('reset', 0);
    });
    return s;
  }

  private read(s: net.Socket, buf: Uint8Array, n: number): boolean {
    if (this.socket !== s) return false;
    if (!this.busy) {
      // Bytes nobody asked for: the stream is out of step, so the connection is unusable.
      this.drop(s);
      return false;
    }
    const at = this.parser.feed(buf, 0, n);
    if (at === -1) return true;
    if (at === -2) {
      this.drop(s);
      this.settle('other', 0);
      return false;
    }
    // Bytes past the response's end (we never pipeline) put the stream out of step: the
    // response counts, the connection does not carry another.
    if (this.parser.closeAfter || at < n) this.drop(s);
    this.settle(undefined, this.parser.status);
    return true;
  }

  private settle(kind: ErrorKind | undefined, status: number): void {
    this.busy = false;
    this.owner.settled(this, kind, status);
  }
}
