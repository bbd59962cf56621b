import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { describeNetworkError, networkError } from './errors.js';
import { backoffDelay, isNetworkError, isRetryable, isRetryableStatus, parseRetryAfter, resolveRetry } from './retry.js';

const coded = (code: string, message: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(message), { code, ...extra });

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
    expect(() => resolveRetry({ totalMs: Number.NaN })).toThrow(/retry.totalMs/);
  });

  it('has a total time budget, 120 s by default', () => {
    expect(resolveRetry(undefined)).toEqual({ retries: 4, minDelayMs: 200, maxDelayMs: 10_000, totalMs: 120_000 });
  });

  it('retries connection failures and 408/429/5xx answers, never other 4xx, bad TLS or bad content', () => {
    const http = (status: number): BerthError => new BerthError(status === 404 ? 'ENOT_FOUND' : 'EREGISTRY', `x: ${status}`, { details: { status } });
    expect([408, 429, 500, 502, 503, 504].map((s) => isRetryable(http(s)))).toEqual([true, true, true, true, true, true]);
    expect([400, 401, 403, 404, 416].map((s) => isRetryable(http(s)))).toEqual([false, false, false, false, false]);
    const net = (e: Error): BerthError => networkError('x', e, { timeoutMs: 1000 });
    expect(isRetryable(net(coded('ECONNRESET', 'read ECONNRESET')))).toBe(true);
    expect(isRetryable(net(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1', { syscall: 'connect' })))).toBe(true);
    expect(isRetryable(net(coded('UND_ERR_BODY_TIMEOUT', 'Body Timeout Error')))).toBe(true);
    expect(isRetryable(net(coded('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error')))).toBe(true);
    expect(isRetryable(coded('UND_ERR_SOCKET', 'other side closed'))).toBe(true);
    expect(isRetryable(net(coded('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate')))).toBe(false);
    expect(isRetryable(new BerthError('ENETWORK', 'x: the blob body ended after 1 of 2 bytes'))).toBe(true);
    expect(isRetryable(new BerthError('EDIGEST_MISMATCH', 'x'))).toBe(false);
    expect(isRetryable(new BerthError('EABORTED', 'x: aborted'))).toBe(false);
  });

  it('says what failed in words, never with undici\'s codes', () => {
    const words = (e: Error, body?: 'manifest' | 'blob'): string => describeNetworkError(e, { timeoutMs: 30_000, ...(body ? { body } : {}) });
    expect(words(coded('UND_ERR_BODY_TIMEOUT', 'Body Timeout Error'), 'manifest')).toBe('the registry stopped sending the manifest body for 30 s');
    expect(words(coded('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error'))).toBe('the registry did not answer within 30 s');
    expect(words(coded('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error'))).toBe('cannot connect (no connection within 30 s)');
    expect(words(coded('UND_ERR_SOCKET', 'other side closed'))).toBe('connection closed by the registry');
    expect(words(coded('ECONNRESET', 'read ECONNRESET'))).toBe('connection reset');
    expect(words(coded('ENOTFOUND', 'getaddrinfo ENOTFOUND registry-1.docker.io', { syscall: 'getaddrinfo' }))).toBe('cannot connect (getaddrinfo ENOTFOUND)');
    expect(words(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5000', { syscall: 'connect' }))).toBe('cannot connect (connect ECONNREFUSED)');
    expect(words(coded('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"))).toBe(
      "TLS handshake failed: Hostname/IP does not match certificate's altnames",
    );
    expect(words(coded('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'Response body length does not match content-length header'), 'blob')).toBe(
      'the blob body did not match its Content-Length',
    );
    // Wrapped: the code is found on the cause; the original error stays as the cause.
    const inner = coded('UND_ERR_BODY_TIMEOUT', 'Body Timeout Error');
    const err = networkError('get manifest x', new Error('request failed', { cause: inner }), { timeoutMs: 500, body: 'manifest' });
    expect(err.message).toBe('get manifest x: the registry stopped sending the manifest body for 0.5 s');
    expect((err.cause as Error).cause).toBe(inner);
    for (const code of ['UND_ERR_CLOSED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_INFO']) expect(words(coded(code, 'some undici words'))).not.toMatch(/UND_ERR/);
  });
});
