// The built-in driver spreads requests over many keep-alive connections even at low rates, so
// a server with several workers on one port (SO_REUSEPORT hands out connections, not requests)
// sees each worker get its share, as behind many clients.
import test from 'ava';
import { runBuiltinLoad, SPREAD_CONNECTIONS } from '../../operator/load/builtin.ts';
import { startServer } from './servers.ts';

test('at a low rate requests rotate over many connections instead of reusing the first idle one', async (t) => {
  const perConnection = new Map<number, number>();
  const server = await startServer(t, (req, res) => {
    const port = req.socket.remotePort ?? 0;
    perConnection.set(port, (perConnection.get(port) ?? 0) + 1);
    res.end('ok');
  });
  const r = await runBuiltinLoad({
    targets: [server.url],
    rate: 100,
    durationMillis: 1500,
    warmUpMillis: 0,
    maxInFlight: 512,
    timeoutMillis: 5000,
  });
  t.is(r.completed, 150);
  // One idle-first connection would carry nearly all 150; rotation uses SPREAD_CONNECTIONS (64).
  t.true(perConnection.size >= SPREAD_CONNECTIONS / 2, `connections used: ${perConnection.size}`);
  t.true(Math.max(...perConnection.values()) <= 10, `most on one connection: ${Math.max(...perConnection.values())}`);
});

test('with a cap below the spread, the driver never opens more connections than maxInFlight', async (t) => {
  const ports = new Set<number>();
  const server = await startServer(t, (req, res) => {
    ports.add(req.socket.remotePort ?? 0);
    res.end('ok');
  });
  const r = await runBuiltinLoad({
    targets: [server.url],
    rate: 100,
    durationMillis: 500,
    warmUpMillis: 0,
    maxInFlight: 4,
    timeoutMillis: 5000,
  });
  t.is(r.completed + r.dropped, 50);
  t.true(ports.size <= 4, `connections: ${ports.size}`);
});
