import { afterEach, describe, expect, it } from 'vitest';
import { endpointsFor } from './endpoints.js';
import { Pinger } from './ping.js';
import { startServer } from './test-support/fake-registry.js';
import { Wire } from './wire.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

function wire(): Wire {
  const w = new Wire({ config: { registries: {} }, userAgent: 'berth-test', timeoutMs: 5_000 });
  closers.push(() => w.close());
  return w;
}

describe('ping layer', () => {
  it('a loopback endpoint falls back from HTTPS to plain HTTP and keeps the scheme that worked', async () => {
    const pings: string[] = [];
    const srv = await startServer((req, res) => {
      pings.push(req.url ?? '');
      res.writeHead(200).end('{}');
    });
    closers.push(srv.close);
    const [ep] = endpointsFor({ registries: {} }, srv.host, 'pull');
    expect(ep?.candidates).toEqual([`https://${srv.host}`, `http://${srv.host}`]);
    const pinger = new Pinger(wire());
    expect(await pinger.ensure(ep!, undefined)).toEqual({ origin: `http://${srv.host}`, challenge: null });
    await pinger.ensure(ep!, undefined);
    expect(pinger.origin(ep!)).toBe(`http://${srv.host}`);
    expect(pings).toEqual(['/v2/']); // the HTTPS attempt never reached the plain server as a request; the second ensure sent nothing
  });

  it('learns the challenge of a 401 (Bearer over Basic), and concurrent first requests share one ping', async () => {
    let pings = 0;
    const srv = await startServer((_req, res) => {
      pings++;
      res.writeHead(401, { 'www-authenticate': ['Basic realm="r"', 'Bearer realm="http://127.0.0.1:1/token",service="svc"'] }).end();
    });
    closers.push(srv.close);
    const ep = { registry: srv.host, host: srv.host, candidates: [srv.url], mirror: false };
    const pinger = new Pinger(wire());
    const [a, b] = await Promise.all([pinger.ensure(ep, undefined), pinger.ensure(ep, undefined)]);
    expect(pings).toBe(1);
    expect(a).toBe(b);
    expect(a.challenge?.scheme).toBe('bearer');
    expect(a.challenge?.params['service']).toBe('svc');
    pinger.learn(ep, { scheme: 'basic', params: {} });
    expect(pinger.challenge(ep)?.scheme).toBe('basic');
    await pinger.ensure(ep, undefined);
    expect(pings).toBe(1);
  });

  it('a ping that failed is not remembered: the next request pings again', async () => {
    const srv = await startServer((_req, res) => res.writeHead(200).end());
    const ep = { registry: srv.host, host: srv.host, candidates: [srv.url], mirror: false };
    await srv.close();
    const pinger = new Pinger(wire());
    await expect(pinger.ensure(ep, undefined)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(pinger.origin(ep)).toBeUndefined();
    const again = await startServer((_req, res) => res.writeHead(200).end());
    closers.push(again.close);
    const ep2 = { ...ep, candidates: [again.url] };
    expect((await pinger.ensure(ep2, undefined)).origin).toBe(again.url);
  });
});
