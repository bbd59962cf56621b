import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as undici from 'undici';
import { describe, expect, it } from 'vitest';
import { Agent, request } from './http.js';

describe('http (undici without its index)', () => {
  it('uses the very Agent class undici exports', () => {
    expect(Agent).toBe(undici.Agent);
  });

  it('requests an absolute URL (path and query) through the given dispatcher', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-test']}`);
      res.writeHead(201, { 'content-type': 'text/plain' }).end('hello');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new Agent();
    try {
      const { port } = server.address() as AddressInfo;
      const res = await request(new URL(`http://127.0.0.1:${port}/v2/a/b?x=1&y=2`), { method: 'GET', headers: { 'x-test': 'yes' }, dispatcher: agent });
      expect(res.statusCode).toBe(201);
      expect(res.headers['content-type']).toBe('text/plain');
      expect(await res.body.text()).toBe('hello');
      expect(typeof res.body.dump).toBe('function');
      expect(seen).toEqual(['GET /v2/a/b?x=1&y=2 yes']);
    } finally {
      await agent.close();
      await new Promise((r) => server.close(r));
    }
  });
});
