import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { expectedFailure } from './test-support/failure.js';
import { networkError } from './errors.js';
import { resolveRetry } from './retry.js';
import { retrying, type RetryEvent, type RetryLayer } from './retrying.js';

/** A retry layer that does not sleep: the waits it asked for are recorded, and the clock moves by them. */
function layer(opts: { retries?: number; totalMs?: number; maxDelayMs?: number } = {}): RetryLayer & { waits: number[]; events: RetryEvent[]; now: { t: number } } {
  const now = { t: 0 };
  const waits: number[] = [];
  const events: RetryEvent[] = [];
  return {
    policy: resolveRetry({ retries: opts.retries ?? 4, minDelayMs: 100, maxDelayMs: opts.maxDelayMs ?? 1_000, totalMs: opts.totalMs ?? 120_000 }),
    networkError: (doing, err) => networkError(doing, err, { timeoutMs: 30_000 }),
    onRetry: (e) => events.push(e),
    sleep: async (ms) => {
      waits.push(ms);
      now.t += ms;
    },
    clock: () => now.t,
    waits,
    events,
    now,
  };
}

const http503 = (): BerthError => new BerthError('EREGISTRY', 'get x: service unavailable', { details: { status: 503, url: 'http://r/v2/x' } });
const reset = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

describe('retry layer', () => {
  it('retries a retryable failure up to `retries` times, then says how many attempts were made', async () => {
    const l = layer({ retries: 3 });
    let n = 0;
    const err = await retrying(l, { doing: 'get x' }, async () => {
      n++;
      throw http503();
    }).then(expectedFailure, (e: unknown) => e as BerthError);
    expect(n).toBe(4);
    expect(err.code).toBe('EREGISTRY');
    expect(err.message).toBe('get x: service unavailable (4 attempts)');
    expect(err.details['attempts']).toBe(4);
    expect(l.events.map((e) => [e.attempt, e.reason, e.url])).toEqual([
      [1, 'HTTP 503', 'http://r/v2/x'],
      [2, 'HTTP 503', 'http://r/v2/x'],
      [3, 'HTTP 503', 'http://r/v2/x'],
    ]);
    for (const [i, w] of l.waits.entries()) expect(w).toBeLessThanOrEqual(Math.min(1_000, 100 * 2 ** i));
  });

  it('a connection error is ENETWORK in words; what succeeds after it is returned', async () => {
    const l = layer();
    let n = 0;
    const v = await retrying(l, { doing: 'get x' }, async (ctx) => {
      expect(ctx.attempt).toBe(n);
      if (n++ < 2) throw reset();
      return 'ok';
    });
    expect(v).toBe('ok');
    expect(l.events.map((e) => e.reason)).toEqual(['connection reset', 'connection reset']);
    const l2 = layer({ retries: 0 });
    const err = await retrying(l2, { doing: 'get x' }, async () => {
      throw reset();
    }).then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err).toBeInstanceOf(BerthError);
    expect(err.code).toBe('ENETWORK');
    expect(err.message).toBe('get x: connection reset');
  });

  it('no retry for a 404, and none (nor relabelling) for an error that is not the network\'s', async () => {
    const l = layer();
    let n = 0;
    const notFound = new BerthError('ENOT_FOUND', 'get x: manifest unknown', { details: { status: 404 } });
    await expect(retrying(l, { doing: 'get x' }, async () => {
      n++;
      throw notFound;
    })).rejects.toBe(notFound);
    const bug = new TypeError('x is not a function');
    await expect(retrying(l, { doing: 'get x' }, async () => {
      n++;
      throw bug;
    })).rejects.toBe(bug);
    expect(n).toBe(2);
    expect(l.events).toEqual([]);
  });

  it('Retry-After replaces the backoff, capped at maxDelayMs', async () => {
    const l = layer({ maxDelayMs: 2_000 });
    let n = 0;
    await retrying(l, { doing: 'get x' }, async () => {
      if (n++ === 0) throw new BerthError('EREGISTRY', 'get x: too many requests', { details: { status: 429, retryAfterMs: 60_000 } });
      if (n === 2) throw new BerthError('EREGISTRY', 'get x: too many requests', { details: { status: 429, retryAfterMs: 700 } });
    });
    expect(l.waits).toEqual([2_000, 700]);
  });

  it('the time budget: no retry starts after totalMs, unless the attempts move bytes (progressed)', async () => {
    const l = layer({ retries: 100, totalMs: 10_000 });
    let n = 0;
    const err = await retrying(l, { doing: 'get x' }, async () => {
      n++;
      l.now.t += 4_000; // each attempt takes 4 s
      throw http503();
    }).then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err.message).toMatch(/^get x: service unavailable \(\d attempts; the 10 s retry budget is used up\)$/);
    expect(n).toBeLessThanOrEqual(3);

    const l2 = layer({ retries: 6, totalMs: 10_000 });
    let m = 0;
    const err2 = await retrying(l2, { doing: 'get x' }, async (ctx) => {
      m++;
      l2.now.t += 4_000;
      ctx.progressed(); // bytes came: the budget starts again
      throw reset();
    }).then(expectedFailure, (e: unknown) => e as BerthError);
    expect(m).toBe(7); // bounded by the attempt count instead
    expect(err2.message).toBe('get x: connection reset (7 attempts)');
  });

  it('an abort ends it with EABORTED, waits included', async () => {
    const ac = new AbortController();
    const l = layer();
    l.sleep = async () => {
      ac.abort();
    };
    const err = await retrying(l, { doing: 'get x', signal: ac.signal }, async () => {
      throw http503();
    }).then(expectedFailure, (e: unknown) => e as BerthError);
    expect(err.code).toBe('EABORTED');
  });
});
