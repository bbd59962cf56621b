import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { expectedFailure } from './test-support/failure.js';
import { endpointsFor, type Endpoint } from './endpoints.js';
import { networkError } from './errors.js';
import { MIRROR_DOWN_MS, MirrorFallback } from './mirrors.js';
import { resolveRetry } from './retry.js';
import { retrying } from './retrying.js';

const config = { registries: { 'docker.io': { mirrors: ['http://127.0.0.1:5001', 'http://127.0.0.1:5002'] } } };
const eps = endpointsFor(config, 'docker.io', 'pull');

/** The fallback over a real retry layer that does not sleep (1 retry), on a clock the test moves. */
function fallback(): { mirrors: MirrorFallback; now: { t: number } } {
  const now = { t: 0 };
  const layer = { policy: resolveRetry({ retries: 1 }), networkError: (d: string, e: unknown) => networkError(d, e, { timeoutMs: 30_000 }), sleep: async () => undefined };
  return { mirrors: new MirrorFallback({ retrying: (op, attempt) => retrying(layer, op, attempt), clock: () => now.t }), now };
}

/** What the send layer throws for a connection that failed: ENETWORK, in words. */
const cannotConnect = (code: string, syscall: string): BerthError => networkError('get x', Object.assign(new Error(`${syscall} ${code}`), { code, syscall }), { timeoutMs: 30_000 });
const refused = (): BerthError => cannotConnect('ECONNREFUSED', 'connect');
const status = (s: number, words: string): BerthError => new BerthError(s === 404 ? 'ENOT_FOUND' : 'EREGISTRY', `get x: ${words}`, { details: { status: s, reason: words } });

describe('mirror-fallback layer', () => {
  it('tries each mirror in order with its retries, then the registry; a 404 passes on at once', async () => {
    const { mirrors } = fallback();
    const calls: string[] = [];
    const v = await mirrors.run(eps, { doing: 'get x' }, async (ep: Endpoint) => {
      calls.push(ep.host);
      if (ep.host === '127.0.0.1:5001') throw status(503, 'service unavailable');
      if (ep.host === '127.0.0.1:5002') throw status(404, 'manifest unknown');
      return ep.host;
    });
    expect(v).toBe('docker.io');
    expect(calls).toEqual(['127.0.0.1:5001', '127.0.0.1:5001', '127.0.0.1:5002', 'docker.io']);
  });

  it('when the registry itself cannot be reached, the error says what every endpoint answered, on one line', async () => {
    const { mirrors } = fallback();
    const err = await mirrors
      .run(eps, { doing: 'get x' }, async (ep) => {
        if (ep.mirror) throw ep.host.endsWith('5001') ? status(503, 'service unavailable') : status(404, 'manifest unknown');
        throw refused();
      })
      .then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err.message).toBe(
      'get x: mirror http://127.0.0.1:5001 answered 503 service unavailable (2 attempts); mirror http://127.0.0.1:5002 answered 404 manifest unknown; registry-1.docker.io: cannot connect (connect ECONNREFUSED) (2 attempts)',
    );
    expect(err.details['reason']).toBe(err.message.slice('get x: '.length));
  });

  it('a registry whose name does not resolve (not retried) still gets the mirrors\' answers in front of its own failure', async () => {
    const { mirrors } = fallback();
    const err = await mirrors
      .run(eps, { doing: 'get x' }, async (ep) => {
        throw ep.mirror ? status(503, 'service unavailable') : cannotConnect('ENOTFOUND', 'getaddrinfo');
      })
      .then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err.message).toBe(
      'get x: mirror http://127.0.0.1:5001 answered 503 service unavailable (2 attempts); mirror http://127.0.0.1:5002 answered 503 service unavailable (2 attempts); registry-1.docker.io: cannot connect (getaddrinfo ENOTFOUND)',
    );
  });

  it("the registry's own answer that is not retryable stands alone", async () => {
    const { mirrors } = fallback();
    const notFound = status(404, 'manifest unknown');
    await expect(mirrors.run(eps, { doing: 'get x' }, async (ep) => {
      throw ep.mirror ? status(503, 'service unavailable') : notFound;
    })).rejects.toBe(notFound);
  });

  it('a mirror that could not be connected to is passed over (and still named) for 60 s, then tried again', async () => {
    const { mirrors, now } = fallback();
    const calls: string[] = [];
    const attempt = async (ep: Endpoint): Promise<string> => {
      calls.push(ep.host);
      if (ep.host.endsWith('5001')) throw refused();
      if (ep.host.endsWith('5002')) throw status(503, 'service unavailable'); // answers: never passed over
      return 'ok';
    };
    await mirrors.run(eps, { doing: 'get x' }, attempt);
    expect(calls).toEqual(['127.0.0.1:5001', '127.0.0.1:5001', '127.0.0.1:5002', '127.0.0.1:5002', 'docker.io']);
    calls.length = 0;
    now.t += MIRROR_DOWN_MS - 1;
    await mirrors.run(eps, { doing: 'get x' }, attempt);
    expect(calls).toEqual(['127.0.0.1:5002', '127.0.0.1:5002', 'docker.io']);
    const named = await mirrors
      .run(eps, { doing: 'get x' }, async (ep) => {
        if (ep.mirror) return attempt(ep);
        throw refused();
      })
      .then(expectedFailure, (e: unknown) => e as BerthError);
    expect(named.message).toBe(
      'get x: mirror http://127.0.0.1:5001: cannot connect (connect ECONNREFUSED) (2 attempts); mirror http://127.0.0.1:5002 answered 503 service unavailable (2 attempts); registry-1.docker.io: cannot connect (connect ECONNREFUSED) (2 attempts)',
    );
    calls.length = 0;
    now.t += 1;
    await mirrors.run(eps, { doing: 'get x' }, attempt);
    expect(calls[0]).toBe('127.0.0.1:5001');
  });

  it('an abort does not fall through', async () => {
    const { mirrors } = fallback();
    const ac = new AbortController();
    const calls: string[] = [];
    const err = await mirrors
      .run(eps, { doing: 'get x', signal: ac.signal }, async (ep) => {
        calls.push(ep.host);
        ac.abort();
        throw status(503, 'service unavailable');
      })
      .then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err.code).toBe('EABORTED');
    expect(calls).toEqual(['127.0.0.1:5001']);
  });
});
