// A loopback HTTP front for the test kube-apiserver whose watch streams of chosen resources
// arrive late: every chunk of such a stream is held back `lagMillis`, in order. That is what
// a loaded machine does to an operator's informer cache (it falls behind the operator's own
// writes), made repeatable, so a test can show that a reconcile never acts on a status older
// than its own last write. Everything else passes through at once. The front speaks plain
// HTTP on 127.0.0.1 and forwards over TLS with the admin's client certificate.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface LaggingApi {
  /** A KubeConfig for the front (no credentials of its own: the front adds the admin's). */
  kubeConfig: KubeConfig;
  /** Watch chunks held back so far (a test can check the lag was in effect). */
  delayedChunks(): number;
  close(): Promise<void>;
}

export interface LaggingApiOptions {
  lagMillis: number;
  /** Which watch requests lag, by request path (e.g. /apis/conclab.dev/ ...). */
  lags: (path: string) => boolean;
}

export async function startLaggingApi(upstream: KubeConfig, options: LaggingApiOptions): Promise<LaggingApi> {
  const cluster = upstream.getCurrentCluster();
  const user = upstream.getCurrentUser();
  if (!cluster || !user?.certData || !user.keyData || !cluster.caData) {
    throw new Error('startLaggingApi needs an admin KubeConfig with inline CA, client certificate and key');
  }
  const target = new URL(cluster.server);
  const tls = {
    ca: Buffer.from(cluster.caData, 'base64'),
    cert: Buffer.from(user.certData, 'base64'),
    key: Buffer.from(user.keyData, 'base64'),
  };
  let delayed = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    const path = req.url ?? '/';
    const lagging = /[?&]watch=(true|1)\b/.test(path) && options.lags(path);
    const { host: _host, connection: _connection, ...headers } = req.headers;
    const upstreamReq = request(
      { hostname: target.hostname, port: target.port, path, method: req.method, headers, ...tls },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        if (!lagging) {
          upstreamRes.pipe(res);
          return;
        }
        // Each chunk leaves lagMillis after it arrived, in arrival order.
        let chain = Promise.resolve();
        upstreamRes.on('data', (chunk: Buffer) => {
          const due = Date.now() + options.lagMillis;
          delayed++;
          chain = chain.then(
            () =>
              new Promise<void>((resolve) => {
                setTimeout(
                  () => {
                    if (!res.destroyed) res.write(chunk);
                    resolve();
                  },
                  Math.max(0, due - Date.now()),
                );
              }),
          );
        });
        upstreamRes.on('end', () => {
          chain = chain.then(() => void res.end());
        });
      },
    );
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'lagging', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'front' }],
    contexts: [{ name: 'lagging', cluster: 'lagging', user: 'front' }],
    currentContext: 'lagging',
  });
  return {
    kubeConfig,
    delayedChunks: () => delayed,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
