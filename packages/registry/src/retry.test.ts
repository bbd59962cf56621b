import { describe, expect, it } from 'vitest';
import { backoffDelay, isNetworkError, isRetryableStatus, parseRetryAfter, resolveRetry } from './retry.js';

describe('retry policy', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially with full jitter under a cap', () => {
    const r = resolveRetry({ retries: 5, minDelayMs: 100, maxDelayMs: 1000 });
    expect(backoffDelay(0, r, () => 0.999)).toBe(99);
    expect(backoffDelay(2, r, () => 0.999)).toBe(399);
    expect(backoffDelay(10, r, () => 0.999)).toBe(999);
    expect(backoffDelay(3, r, () => 0)).toBe(0);
  });

  it('retries 408, 429 and transient 5xx only', () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 416, 501, 505].some(isRetryableStatus)).toBe(false);
  });

  it('recognises connection errors through causes', () => {
    expect(isNetworkError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isNetworkError(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'UND_ERR_SOCKET' }) }))).toBe(true);
    expect(isNetworkError(new Error('nope'))).toBe(false);
  });

  it('rejects nonsense options', () => {
    expect(() => resolveRetry({ retries: -1 })).toThrow(/retry.retries/);
  });
});
