import { debuglog } from 'node:util';
import { BerthError } from '@berth/oci';
import { endpointHost, endpointKey, type Endpoint } from './endpoints.js';
import { isConnectFailure, oneLine, reasonOf } from './errors.js';
import { isAbortError, isRetryable } from './retry.js';
import type { AttemptContext, RetryOperation } from './retrying.js';

const debug = debuglog('berth');

/**
 * A mirror that could not be connected to at all, after its retries, is passed
 * over for this long by later requests of the same client (they say what it
 * answered): a pull does not pay the backoff again for every blob.
 */
export const MIRROR_DOWN_MS = 60_000;

export interface MirrorFallbackOptions {
  /** The retry layer: runs one endpoint's attempts under the policy. */
  retrying: <T>(op: RetryOperation, attempt: (ctx: AttemptContext) => Promise<T>) => Promise<T>;
  /** Milliseconds on a monotonic clock, for how long a mirror stays passed over. Default performance.now. */
  clock?: () => number;
}

/** An endpoint that failed before the request moved on to the next one. */
interface EndpointFailure {
  ep: Endpoint;
  err: unknown;
}

/**
 * The mirror-fallback layer, above the retry layer: a pull request goes to
 * each mirror in order, then to the registry itself. Each endpoint gets the
 * whole retry policy; one that still fails (any error but an abort: a 404 at
 * once, a 5xx or a connection error once its retries are used up, bad
 * content) passes the request to the next. A mirror that could not be
 * connected to is passed over for `MIRROR_DOWN_MS`. When the registry itself
 * then cannot be reached or keeps failing, the error says what every endpoint
 * answered, on one line.
 */
export class MirrorFallback {
  /** Mirrors that could not be connected to: their failure, and until when they are passed over. */
  private readonly down = new Map<string, { err: unknown; until: number }>();
  private readonly clock: () => number;

  constructor(private readonly opts: MirrorFallbackOptions) {
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Run `attempt` against `endpoints` in order (the last is the registry itself) until one succeeds. */
  async run<T>(endpoints: readonly Endpoint[], op: RetryOperation, attempt: (ep: Endpoint, ctx: AttemptContext) => Promise<T>): Promise<T> {
    const failed: EndpointFailure[] = [];
    for (let i = 0; ; i++) {
      const ep = endpoints[i] as Endpoint;
      const key = endpointKey(ep);
      const down = ep.mirror ? this.down.get(key) : undefined;
      if (down && this.clock() < down.until) {
        failed.push({ ep, err: down.err });
        continue;
      }
      try {
        return await this.opts.retrying(op, (ctx) => attempt(ep, ctx));
      } catch (err) {
        if (isAbortError(err, op.signal)) throw err;
        if (i === endpoints.length - 1) throw withEndpointFailures(err, failed, ep, op.doing);
        debug('mirror %s for %s failed, trying the next endpoint: %s', ep.host, ep.registry, (err as Error).message);
        if (isConnectFailure(err)) this.down.set(key, { err, until: this.clock() + MIRROR_DOWN_MS });
        failed.push({ ep, err });
      }
    }
  }
}

/** What one endpoint answered: `answered 503 unavailable: … (4 attempts)`, or its connection failure in words. */
function answerOf(err: unknown): string {
  const status = err instanceof BerthError ? err.details['status'] : undefined;
  return typeof status === 'number' ? `answered ${status} ${reasonOf(err)}` : reasonOf(err);
}

/**
 * The error of the last endpoint (the registry itself). An answer that is the
 * registry's word on the matter (404, 401, 403, bad content) stands alone.
 * When it could not be reached or kept failing (a connection error, or
 * 408/429/5xx after its retries), the error says what every endpoint
 * answered, on one line:
 * `…: mirror http://127.0.0.1:5000 answered 503 unavailable: service unavailable (5 attempts); registry-1.docker.io: cannot connect (getaddrinfo ENOTFOUND)`
 * or `…; 127.0.0.1:5000 answered 503 unavailable: service unavailable (5 attempts)`.
 */
function withEndpointFailures(err: unknown, failed: readonly EndpointFailure[], ep: Endpoint, doing: string): unknown {
  if (failed.length === 0 || isAbortError(err)) return err;
  // The registry's own answer stands alone; a registry that cannot be reached at all (even a DNS failure, which
  // is not retried) has no answer of its own, so the mirrors' answers are what the user needs to see.
  if (err instanceof BerthError && !isRetryable(err) && !isConnectFailure(err)) return err;
  const part = (name: string, e: unknown): string => {
    const answer = answerOf(e);
    return `${name}${answer.startsWith('answered ') ? ' ' : ': '}${answer}`;
  };
  const parts = failed.map((f) => part(`mirror ${f.ep.candidates[0] ?? f.ep.host}`, f.err));
  const reason = oneLine(`${parts.join('; ')}; ${part(endpointHost(ep), err)}`, 1000);
  const details = err instanceof BerthError ? err.details : {};
  return new BerthError(err instanceof BerthError ? err.code : 'ENETWORK', `${doing}: ${reason}`, { cause: err, details: { ...details, reason } });
}
