// Test helper: an HTTP/1.1 client on a bare TCP socket, for what well-behaved clients never do
// (trickle headers or bodies, keep uploading after an answer) and to see exactly how the server
// ended the connection: a clean end (FIN) or a reset.
import { connect, type Socket } from 'node:net';

export class RawClient {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  /** The server half-closed (FIN) its side. */
  ended = false;
  closed = false;
  /** The first socket error (ECONNRESET, EPIPE...), if any. */
  error: string | undefined;
  #waiters: (() => void)[] = [];
  #trickle: NodeJS.Timeout | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    const wake = () => {
      for (const w of this.#waiters.splice(0)) w();
    };
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      wake();
    });
    socket.on('end', () => {
      this.ended = true;
      wake();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error ??= error.code ?? error.message;
      wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.stopTrickle();
      wake();
    });
  }

  /** Connects to the host and port of `url`. */
  static open(url: string): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  /** The status code of the first response, once its status line arrived. */
  get status(): number | undefined {
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(this.text);
    return m ? Number(m[1]) : undefined;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** Writes `data` every `everyMillis` until stopped or the connection closes. */
  trickle(data: string | Buffer, everyMillis: number): void {
    this.stopTrickle();
    this.#trickle = setInterval(() => this.write(data), everyMillis);
  }

  stopTrickle(): void {
    if (this.#trickle) clearInterval(this.#trickle);
    this.#trickle = undefined;
  }

  /** Resolves true once `condition` holds, false after `timeoutMillis` (bounded wait). */
  async until(condition: (c: RawClient) => boolean, timeoutMillis: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMillis;
    while (!condition(this)) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  destroy(): void {
    this.stopTrickle();
    this.socket.destroy();
  }
}

/** Request head of a POST to /v1/traces; `token` undefined sends no Authorization header. */
export function postHead(options: { token?: string; contentLength?: number; path?: string }): string {
  const lines = [
    `POST ${options.path ?? '/v1/traces'} HTTP/1.1`,
    'Host: receiver',
    'Content-Type: application/x-protobuf',
    ...(options.token !== undefined ? [`Authorization: Bearer ${options.token}`] : []),
    ...(options.contentLength !== undefined ? [`Content-Length: ${options.contentLength}`] : []),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
