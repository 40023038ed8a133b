// A free loopback port, chosen by the kernel. The local runtime picks the workload's ports
// itself (instead of letting the workload bind port 0) so that a restarted workload comes back
// on the same address and the engine's URLs stay valid. The port is released before the
// workload binds it; another process could take it in between, which then shows up as a
// workload that fails to start with EADDRINUSE in its stderr.
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port on 127.0.0.1'))));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let i = 0; ports.size < count && i < count * 10; i++) ports.add(await freePort());
  if (ports.size < count) throw new Error(`could not find ${count} distinct free ports on 127.0.0.1`);
  return [...ports];
}
