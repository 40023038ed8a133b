// A test-local OTLP/HTTP trace receiver that also keeps each export's headers (the Node tests'
// receiver does not), decoding with the same hand-written wire reader.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeExportTraceServiceRequest, type ReceivedSpan } from '../node/otlp-receiver.ts';

export class OtlpSink {
  readonly spans: ReceivedSpan[] = [];
  readonly headers: http.IncomingHttpHeaders[] = [];
  readonly paths: string[] = [];
  readonly #server: http.Server;
  url = '';

  constructor() {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.paths.push(`${req.method} ${req.url}`);
        this.headers.push(req.headers);
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        if (req.method === 'POST') this.spans.push(...decodeExportTraceServiceRequest(body));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
