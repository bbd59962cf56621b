/**
 * The two parts of undici the transport uses: `Agent` (connection pools per
 * origin) and the `request` API. They are imported from undici's own modules
 * rather than its index, because the index also loads fetch, WebSocket,
 * EventSource, the cache and mock layers and, through them, Node's bundled
 * copy of undici: about 0.15 s of CPU at every start of the CLI, for nothing
 * berth calls. `http.test.ts` checks that these are the very objects undici's
 * index exports, so an undici release that moves them fails the tests.
 */
import type { Agent as UndiciAgentType, Dispatcher } from 'undici';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import undiciRequest from 'undici/lib/api/api-request.js';

export const Agent: typeof UndiciAgentType = UndiciAgent;
export type Agent = UndiciAgentType;

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher };

/**
 * `undici.request(url, opts)` for an absolute URL and an explicit dispatcher:
 * the same call undici's index makes (origin and path+query from the URL).
 */
export function request(url: URL, opts: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = opts;
  return undiciRequest.call(dispatcher, { ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
