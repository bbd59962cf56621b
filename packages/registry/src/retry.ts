import { BerthError } from '@berth/oci';

/**
 * The one retry policy of the client. Every request (manifest GET/HEAD, blob GET
 * and its Range resumes, upload POST/PATCH/PUT, mounts, token requests) runs
 * under it exactly once, in `Transport.retrying`.
 */
export interface RetryOptions {
  /** Attempts after the first one. Default 4. */
  retries?: number;
  /** Base of the exponential backoff. Default 200 ms. */
  minDelayMs?: number;
  /** Cap for one delay, including a server's `Retry-After`. Default 10 s. */
  maxDelayMs?: number;
  /**
   * Total time budget: no retry starts later than this after the operation's
   * first attempt (or the last time it made progress: bytes downloaded or
   * accepted by the registry), and a wait is cut to end by then. Default 120 s.
   */
  totalMs?: number;
}

export interface ResolvedRetry {
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  totalMs: number;
}

export const DEFAULT_RETRY: Readonly<ResolvedRetry> = { retries: 4, minDelayMs: 200, maxDelayMs: 10_000, totalMs: 120_000 };

export function resolveRetry(opts: RetryOptions | undefined): ResolvedRetry {
  const retries = opts?.retries ?? DEFAULT_RETRY.retries;
  const minDelayMs = opts?.minDelayMs ?? DEFAULT_RETRY.minDelayMs;
  const maxDelayMs = opts?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  const totalMs = opts?.totalMs ?? DEFAULT_RETRY.totalMs;
  for (const [k, v] of Object.entries({ retries, minDelayMs, maxDelayMs, totalMs })) {
    if (!Number.isFinite(v) || v < 0) throw new BerthError('EINVAL_ARGUMENT', `retry.${k}: must be a non-negative number, got ${v}`);
  }
  return { retries: Math.floor(retries), minDelayMs, maxDelayMs: Math.max(minDelayMs, maxDelayMs), totalMs };
}

/** Capped exponential backoff with full jitter: a uniform delay in [0, min(max, min·2^attempt)]. */
export function backoffDelay(attempt: number, r: ResolvedRetry, random: () => number = Math.random): number {
  const ceiling = Math.min(r.maxDelayMs, r.minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Parse `Retry-After`: delta-seconds or an HTTP date. Returns milliseconds from
 * `now` (never negative), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** Statuses worth another try: request timeout, too many requests, and server errors that may pass. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A connection-level failure (refused, reset, timed out, cut mid-body): worth another try. */
export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BerthError) return e.code === 'ENETWORK';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (e instanceof Error && e.name === 'SocketError') return true;
  }
  return false;
}

/**
 * Whether a failed attempt is worth another: a connection-level failure
 * (refused, reset, timed out, body stalled or cut short), or an HTTP answer
 * 408/429/5xx (except 501/505). Never 401/403/404 and other 4xx (401 has its
 * own one re-authentication in the transport), bad content or an abort.
 */
export function isRetryable(err: unknown): boolean {
  if (isAbortError(err)) return false;
  if (err instanceof BerthError) {
    const status = err.details['status'];
    if (typeof status === 'number') return isRetryableStatus(status);
    // An ENETWORK of our own (a body that ended short) is; one wrapping a lower error is if that error is.
    return err.code === 'ENETWORK' && (err.cause === undefined || isNetworkError(err.cause));
  }
  return isNetworkError(err);
}

export function isAbortError(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  if (err instanceof BerthError) return err.code === 'EABORTED';
  const e = err as { name?: string; code?: string } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR' || e?.code === 'UND_ERR_ABORTED';
}

/** The EABORTED error for an operation stopped by its signal. */
export function abortError(doing: string, signal?: AbortSignal): BerthError {
  const reason: unknown = signal?.reason;
  return new BerthError('EABORTED', `${doing}: aborted`, reason === undefined ? {} : { cause: reason });
}

/** Sleep that ends early, rejecting with EABORTED, when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal, doing = 'wait before retrying'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(doing, signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(doing, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function throwIfAborted(signal: AbortSignal | undefined, doing: string): void {
  if (signal?.aborted) throw abortError(doing, signal);
}
