import { afterEach } from 'vitest';
import { RegistryClient, type RegistryClientOptions } from '../client.js';
import { StaticCredentials } from '../credentials.js';

export type Cleanups = Array<() => Promise<unknown>>;

/** A list of clean-ups run after each test of the file, last added first. */
export function useCleanups(): Cleanups {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** A client without credentials (closed after the test), with `opts` on top. */
export function testClient(cleanups: Cleanups, opts: RegistryClientOptions = {}): RegistryClient {
  const c = new RegistryClient({ credentials: new StaticCredentials({}), ...opts });
  cleanups.push(() => c.close());
  return c;
}
