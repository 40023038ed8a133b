// TEST INFRASTRUCTURE. Each pod gets its own loopback address, so pods can all listen on the
// fixed ports their spec names (8080, 8081) without a network namespace. The whole 127.0.0.0/8
// is loopback on Linux; a node agent takes a random /24 inside it (never 127.0.0.0/24, where
// 127.0.0.1 lives) as its pod CIDR, so agents of test files running in parallel do not meet,
// and checks that the ports are free on an address before handing it out.
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

export class PodAddresses {
  readonly cidr: string;
  readonly #prefix: string;
  readonly #used = new Set<number>();

  constructor(prefix?: string) {
    this.#prefix = prefix ?? `127.${randomInt(16, 255)}.${randomInt(0, 256)}`;
    this.cidr = `${this.#prefix}.0/24`;
  }

  /** A free address of this pod CIDR on which every port in `ports` can be bound; throws when none is left. */
  async allocate(ports: readonly number[]): Promise<string> {
    for (let host = 2; host < 255; host++) {
      if (this.#used.has(host)) continue;
      const ip = `${this.#prefix}.${host}`;
      this.#used.add(host);
      if (await portsFree(ip, ports)) return ip;
      // Taken by something else: keep it marked so we do not try it again.
    }
    throw new Error(`pod CIDR ${this.cidr} is exhausted`);
  }

  release(ip: string): void {
    if (!ip.startsWith(`${this.#prefix}.`)) return;
    this.#used.delete(Number(ip.slice(this.#prefix.length + 1)));
  }
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function portsFree(ip: string, ports: readonly number[]): Promise<boolean> {
  for (const port of ports) if (!(await canBind(ip, port))) return false;
  return true;
}
