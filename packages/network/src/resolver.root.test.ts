import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addResolverEntry, findAardvark, removeResolverEntries, resolverRoot, resolverRunning, sweepResolvers } from './resolver.js';

/**
 * The per-network aardvark-dns (resolver.ts) on a loopback address of its own (127.N.N.N, no
 * bridge needed): started by the first entry, reloaded by the next, stopped by the last, and by
 * the sweep when its containers are gone. Root: port 53. Names carry the short ID, as berth's do
 * (a change is waited for through it).
 */
const skip = process.getuid?.() !== 0 ? 'not root' : findAardvark() ? undefined : 'aardvark-dns is not installed (Debian package aardvark-dns)';
const b = randomBytes(3);
const address = `127.${(b[0] ?? 0) % 200 + 20}.${b[1] ?? 0}.${((b[2] ?? 0) % 250) + 2}`;
let state: string;

function ask(name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 1000, tries: 2 });
  r.setServers([address]);
  return r.resolve4(name).catch((err: NodeJS.ErrnoException) => [String(err.code)]);
}

/** Live aardvark-dns processes serving this test's state directory. */
function processes(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(state) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}

describe.skipIf(!!skip)(`aardvark-dns per network${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    state = await mkdtemp(path.join(tmpdir(), 'berth-resolver-'));
  });
  afterAll(async () => {
    await sweepResolvers({ state, alive: () => false });
    await rm(state, { recursive: true, force: true });
  });

  it('serves the names of its entries, reloads on change, and stops with its last entry', async () => {
    const t = { state, network: 'n1', gateway: address };
    await addResolverEntry(t, { containerId: 'a'.repeat(64), ipv4: ['10.1.2.3'], names: ['web', 'www', 'a'.repeat(12)] });
    expect(resolverRunning(state, 'n1')).toBe(true);
    expect(await ask('web')).toEqual(['10.1.2.3']);
    expect(await ask('www')).toEqual(['10.1.2.3']);
    await addResolverEntry(t, { containerId: 'b'.repeat(64), ipv4: ['10.1.2.4'], names: ['db', 'b'.repeat(12)] });
    expect(processes()).toHaveLength(1);
    expect(await ask('db')).toEqual(['10.1.2.4']);
    await removeResolverEntries({ state, containerId: 'a'.repeat(64) });
    expect(await ask('web')).toEqual(['ENOTFOUND']);
    expect(await ask('db')).toEqual(['10.1.2.4']);
    await removeResolverEntries({ state, containerId: 'b'.repeat(64) });
    expect(resolverRunning(state, 'n1')).toBe(false);
    expect(processes()).toEqual([]);
    expect(existsSync(path.join(resolverRoot(state), 'n1'))).toBe(false);
  }, 60_000);

  it('the sweep removes the entries of dead containers and stops a resolver left with none', async () => {
    const t = { state, network: 'n2', gateway: address };
    await addResolverEntry(t, { containerId: 'c'.repeat(64), ipv4: ['10.1.2.5'], names: ['cache', 'c'.repeat(12)] });
    await addResolverEntry(t, { containerId: 'd'.repeat(64), ipv4: ['10.1.2.6'], names: ['queue', 'd'.repeat(12)] });
    expect(await sweepResolvers({ state, alive: (id) => id.startsWith('d') })).toEqual(['c'.repeat(64)]);
    expect(await ask('cache')).toEqual(['ENOTFOUND']);
    expect(await ask('queue')).toEqual(['10.1.2.6']);
    expect(await sweepResolvers({ state, alive: () => false })).toEqual(['d'.repeat(64)]);
    expect(processes()).toEqual([]);
  }, 60_000);

  it('a second network on a taken address is refused with nothing left', async () => {
    await addResolverEntry({ state, network: 'n3', gateway: address }, { containerId: 'e'.repeat(64), ipv4: ['10.1.2.7'], names: ['one', 'e'.repeat(12)] });
    await expect(addResolverEntry({ state, network: 'n4', gateway: address }, { containerId: 'f'.repeat(64), ipv4: ['10.1.2.8'], names: ['two', 'f'.repeat(12)] })).rejects.toThrow(/is taken/);
    expect(existsSync(path.join(resolverRoot(state), 'n4'))).toBe(false);
    await removeResolverEntries({ state, containerId: 'e'.repeat(64) });
    expect(processes()).toEqual([]);
  }, 60_000);
});
