import { debuglog } from 'node:util';
import { BerthError } from '@berth/oci';
import { reasonOf } from './errors.js';
import { abortError, backoffDelay, isAbortError, isNetworkError, isRetryable, sleep, throwIfAborted, type ResolvedRetry } from './retry.js';

const debug = debuglog('berth');

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: string;
  url: string;
}

/** One operation run under the retry policy. */
export interface RetryOperation {
  /** What is being done, for errors and retry events. */
  doing: string;
  signal?: AbortSignal | undefined;
  /** Called before each wait, besides the client's own `onRetry`. */
  onRetry?: ((e: RetryEvent) => void) | undefined;
}

/** What an attempt learns from `retrying`. */
export interface AttemptContext {
  /** 0 for the first attempt. */
  readonly attempt: number;
  /** Bytes moved: the time budget starts again from now (the attempt count does not). */
  progressed(): void;
}

export interface RetryLayer {
  policy: ResolvedRetry;
  /** The ENETWORK (in words) for a failure that is the network's but not yet a BerthError. */
  networkError: (doing: string, err: unknown) => BerthError;
  /** The client's `onRetry`. */
  onRetry?: ((e: RetryEvent) => void) | undefined;
  /** Waits before a retry; tests may pass one that does not sleep. Default: a timer that the signal ends. */
  sleep?: (ms: number, signal: AbortSignal | undefined, doing: string) => Promise<void>;
  /** Milliseconds on a monotonic clock, for the time budget. Default performance.now. */
  clock?: () => number;
}

/**
 * The retry layer: run `attempt` under the policy, the one place where
 * anything is retried. A retryable failure (`isRetryable`: connection errors,
 * stalled or short bodies, 408/429/5xx) is retried after a capped, jittered
 * backoff (or the server's `Retry-After`, capped at `maxDelayMs`), at most
 * `retries` times, and no retry starts after `totalMs` from the first attempt
 * or the last `progressed()`. A failure that is neither a BerthError nor the
 * network's (a bug, a store failure) passes through as it is, at once. The
 * error that ends it says how many attempts were made. `attempt` makes one
 * attempt: it must not run `retrying` itself.
 */
export async function retrying<T>(layer: RetryLayer, op: RetryOperation, attempt: (ctx: AttemptContext) => Promise<T>): Promise<T> {
  const { policy } = layer;
  const wait = layer.sleep ?? sleep;
  const clock = layer.clock ?? (() => performance.now());
  let since = clock();
  const ctx = {
    attempt: 0,
    progressed: (): void => {
      since = clock();
    },
  };
  for (let n = 0; ; n++) {
    throwIfAborted(op.signal, op.doing);
    ctx.attempt = n;
    try {
      return await attempt(ctx);
    } catch (raw) {
      if (isAbortError(raw, op.signal)) throw abortError(op.doing, op.signal);
      if (!(raw instanceof BerthError) && !isNetworkError(raw)) throw raw; // not the network's doing: no retry, no relabelling
      const err = raw instanceof BerthError ? raw : layer.networkError(op.doing, raw);
      if (!isRetryable(err) || n >= policy.retries) throw n === 0 ? err : withAttempts(err, n + 1);
      const left = policy.totalMs - (clock() - since);
      if (left <= 0) throw withAttempts(err, n + 1, policy.totalMs);
      const retryAfter = err.details['retryAfterMs'];
      const wanted = typeof retryAfter === 'number' ? Math.min(retryAfter, policy.maxDelayMs) : backoffDelay(n, policy);
      const delayMs = Math.max(0, Math.min(wanted, Math.floor(left)));
      const status = err.details['status'];
      const url = typeof err.details['url'] === 'string' ? err.details['url'] : '';
      const event: RetryEvent = { attempt: n + 1, delayMs, reason: typeof status === 'number' ? `HTTP ${status}` : reasonOf(err), url };
      debug('%s: retry %d in %d ms: %s', op.doing, n + 1, delayMs, event.reason);
      op.onRetry?.(event);
      layer.onRetry?.(event);
      await wait(delayMs, op.signal, op.doing);
    }
  }
}

/**
 * The error that ended a retried operation, saying how many attempts were made
 * (and that the time budget ran out, when it did), in the message and in `details.reason`.
 */
function withAttempts(err: BerthError, attempts: number, budgetMs?: number): BerthError {
  const count = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  const note = budgetMs === undefined ? `(${count})` : `(${count}; the ${Number((budgetMs / 1000).toFixed(1))} s retry budget is used up)`;
  const reason = typeof err.details['reason'] === 'string' ? `${err.details['reason']} ${note}` : undefined;
  return new BerthError(err.code, `${err.message} ${note}`, {
    cause: err.cause ?? err,
    details: { ...err.details, attempts, ...(reason ? { reason } : {}) },
  });
}
