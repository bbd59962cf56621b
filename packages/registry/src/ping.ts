import { debuglog } from 'node:util';
import { describeError } from '@berth/oci';
import { parseWwwAuthenticate, pickChallenge, type AuthChallenge } from './challenge.js';
import { endpointKey, type Endpoint } from './endpoints.js';
import { discard } from './response.js';
import { abortError, isAbortError } from './retry.js';
import type { Wire } from './wire.js';

const debug = debuglog('berth');

/** What the ping of an endpoint learnt. */
export interface PingResult {
  /** The origin that answered (`https://h`, or `http://h` after HTTPS failed on a loopback or insecure host). */
  origin: string;
  /** The challenge of its `GET /v2/` 401 (Bearer preferred), or null: anonymous access. */
  challenge: AuthChallenge | null;
}

interface PingState {
  origin?: string;
  challenge?: AuthChallenge | null;
  ping?: Promise<PingResult>;
}

/**
 * The ping layer: `GET /v2/` once per endpoint, which picks the scheme
 * (HTTPS, then plain HTTP for loopback and insecure hosts when HTTPS fails at
 * the connection or TLS level, as docker does) and learns the auth challenge.
 * Both are remembered for the life of the client; concurrent first requests
 * share one ping. A failed ping is not remembered: the next attempt pings again.
 */
export class Pinger {
  private readonly states = new Map<string, PingState>();

  constructor(private readonly wire: Wire) {}

  /** The endpoint's origin and challenge, pinging it first if nothing is known yet. */
  ensure(ep: Endpoint, signal: AbortSignal | undefined): Promise<PingResult> {
    const s = this.state(ep);
    if (s.challenge !== undefined && s.origin) return Promise.resolve({ origin: s.origin, challenge: s.challenge });
    s.ping ??= this.ping(ep, s, signal).finally(() => {
      s.ping = undefined;
    });
    return s.ping;
  }

  /** The origin that answered the ping, if any did yet. */
  origin(ep: Endpoint): string | undefined {
    return this.state(ep).origin;
  }

  /** The challenge requests to the endpoint answer (null: none; undefined: not pinged yet). */
  challenge(ep: Endpoint): AuthChallenge | null | undefined {
    return this.state(ep).challenge;
  }

  /** A newer challenge (a 401's), used by the endpoint's later requests. */
  learn(ep: Endpoint, challenge: AuthChallenge): void {
    this.state(ep).challenge = challenge;
  }

  private state(ep: Endpoint): PingState {
    const key = endpointKey(ep);
    let s = this.states.get(key);
    if (!s) {
      s = {};
      this.states.set(key, s);
    }
    return s;
  }

  private async ping(ep: Endpoint, s: PingState, signal: AbortSignal | undefined): Promise<PingResult> {
    let lastErr: unknown;
    for (const origin of s.origin ? [s.origin] : ep.candidates) {
      const url = new URL('/v2/', origin);
      let res;
      try {
        res = await this.wire.request(url, { method: 'GET', signal });
      } catch (err) {
        if (isAbortError(err, signal)) throw abortError(`ping ${url.href}`, signal);
        debug('ping %s: %s', url.href, describeError(err));
        lastErr = err;
        continue;
      }
      await discard(res);
      s.origin = origin;
      s.challenge = res.statusCode === 401 ? (pickChallenge(parseWwwAuthenticate(res.headers['www-authenticate'])) ?? null) : null;
      debug('ping %s: %d, auth %s', url.href, res.statusCode, s.challenge?.scheme ?? 'none');
      return { origin, challenge: s.challenge };
    }
    throw lastErr;
  }
}
