/**
 * Names between containers on a user-defined network: podman's `aardvark-dns` (Debian package
 * aardvark-dns, /usr/lib/podman/aardvark-dns), one process per network listening on the
 * network's gateway, port 53. It answers A records for the containers on the network (their
 * `--name`, `--network-alias`es and short ID) and forwards every other name to the host's
 * resolvers (it reads the host's /etc/resolv.conf and runs in the host's namespace, so even a
 * loopback stub such as systemd-resolved's works).
 *
 * Its configuration is a directory per network, `$BERTH_STATE/aardvark/<network>/`, holding one
 * file named after the network (aardvark's format: the listening addresses on the first line,
 * then `ID IPV4S IPV6S NAMES` per container) and aardvark's `aardvark.pid`. Entries are added
 * and removed under `$BERTH_STATE/aardvark/<network>.lock`; aardvark re-reads the file on
 * SIGHUP. It is started when the first entry is added and stopped (SIGTERM, waited for) when
 * the last is removed, so a network with no container has no process.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import { withFileLock, writeFileAtomic } from '@berth/store';

/** Where Debian's (and Fedora's) packages put it; `$BERTH_AARDVARK_DNS` overrides. */
const AARDVARK_PATHS = ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns'];
const PIDFILE = 'aardvark.pid';
const PORT = 53;

export interface ResolverEntry {
  containerId: string;
  ipv4: string[];
  /** DNS names: `--name`, aliases, the short ID. */
  names: string[];
}

export interface ResolverTarget {
  /** $BERTH_STATE. */
  state: string;
  network: string;
  /** The network's gateway address: the resolver listens there. */
  gateway: string;
  /** The aardvark-dns binary (default: findAardvark()). */
  binary?: string;
}

/** The aardvark-dns binary, or undefined when it is not installed. */
export function findAardvark(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env['BERTH_AARDVARK_DNS'];
  if (given !== undefined) return given !== '' && existsSync(given) ? given : undefined;
  return AARDVARK_PATHS.find((p) => existsSync(p));
}

/** `$BERTH_STATE/aardvark`: one directory (and lock) per network with a resolver. */
export function resolverRoot(state: string): string {
  return path.join(state, 'aardvark');
}

function dirOf(state: string, network: string): string {
  return path.join(resolverRoot(state), network);
}

function locked<T>(state: string, network: string, what: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(path.join(resolverRoot(state), `${network}.lock`), { mode: 'exclusive', what, errorCode: 'ENETWORK_CONFLICT' }, fn);
}

/** A DNS name aardvark can serve (docker's container-name and alias rule, lower-cased by resolvers anyway). */
function dnsName(n: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(n);
}

interface ConfigFile {
  listen: string;
  entries: Map<string, string>;
}

async function readConfig(file: string, gateway: string): Promise<ConfigFile> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const [first, ...rest] = text.split('\n');
  const entries = new Map<string, string>();
  for (const line of rest) {
    const id = line.split(' ')[0];
    if (id) entries.set(id, line);
  }
  return { listen: first || gateway, entries };
}

async function writeConfig(state: string, network: string, cfg: ConfigFile): Promise<void> {
  const text = `${cfg.listen}\n${[...cfg.entries.values()].map((l) => `${l}\n`).join('')}`;
  // The temp file goes beside the directory: aardvark reads every file in it.
  await writeFileAtomic(path.join(dirOf(state, network), network), Buffer.from(text), resolverRoot(state), 0o644);
}

/** The resolver process of a directory, when its pid file names a live aardvark-dns serving that directory. */
function runningPid(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dir, PIDFILE), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return undefined;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmd.some((a) => a.endsWith('aardvark-dns')) && cmd.includes(dir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function portFree(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', (err) => {
      s.close();
      resolve((err as NodeJS.ErrnoException).code ?? String(err));
    });
    s.bind({ address, port: PORT, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/**
 * Waits until the resolver at `address` answers `name` (present) or says it does not know it
 * (NXDOMAIN): aardvark's parent exits before its server is bound, and a SIGHUP reload takes
 * effect a moment later, so berth asks until the change is visible.
 */
async function settled(address: string, name: string, present: boolean, timeoutMs: number): Promise<boolean> {
  const r = new Resolver({ timeout: 250, tries: 1 });
  r.setServers([address]);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if ((await r.resolve4(name)).length > 0 && present) return true;
    } catch (err) {
      if (!present && (err as NodeJS.ErrnoException).code === 'ENOTFOUND') return true;
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  return false;
}

/** The name that is this entry's alone (its short ID when given), to see it come and go. */
function probeName(e: { containerId: string }, names: readonly string[]): string {
  const short = e.containerId.slice(0, 12);
  return names.includes(short) ? short : (names[0] as string);
}

async function start(t: ResolverTarget, dir: string, probe: string): Promise<void> {
  const binary = t.binary ?? findAardvark();
  if (binary === undefined) throw new BerthError('ENETWORK_PLUGIN', `start the resolver of network ${t.network}: aardvark-dns is not installed (Debian package aardvark-dns)`);
  const busy = await portFree(t.gateway);
  if (busy !== undefined) throw new BerthError('ENETWORK_CONFLICT', `start the resolver of network ${t.network}: ${t.gateway}:${PORT} is taken (${busy})`);
  // aardvark-dns forks its server and exits; the server outlives berth, in its own session.
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(binary, ['--config', dir, '-p', String(PORT), 'run'], { stdio: 'ignore', detached: true, cwd: '/' });
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  }).catch((err: unknown) => {
    throw BerthError.wrap(`start the resolver of network ${t.network}`, err, 'ENETWORK_PLUGIN');
  });
  if (code !== 0) throw new BerthError('ENETWORK_PLUGIN', `start the resolver of network ${t.network}: aardvark-dns exited with ${String(code)}`);
  if (!(await settled(t.gateway, probe, true, 10_000))) {
    await stop(dir);
    throw new BerthError('ENETWORK_PLUGIN', `start the resolver of network ${t.network}: aardvark-dns does not answer on ${t.gateway}:${PORT}`);
  }
}

async function stop(dir: string): Promise<void> {
  const pid = runningPid(dir);
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
    const end = Date.now() + 10_000;
    while (runningPid(dir) !== undefined && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
    if (runningPid(dir) !== undefined) process.kill(pid, 'SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * Adds (or replaces) a container's entry in the resolver of a network, starting the resolver
 * when it is not running. Throws with nothing changed when it cannot be started.
 */
export async function addResolverEntry(t: ResolverTarget, e: ResolverEntry): Promise<void> {
  const names = [...new Set(e.names.filter(dnsName))];
  if (names.length === 0 || e.ipv4.length === 0) return;
  await mkdir(dirOf(t.state, t.network), { recursive: true, mode: 0o700 });
  await locked(t.state, t.network, `resolver of network ${t.network}: lock`, async () => {
    const dir = dirOf(t.state, t.network);
    const file = path.join(dir, t.network);
    const cfg = await readConfig(file, t.gateway);
    const before = cfg.entries.get(e.containerId);
    cfg.entries.set(e.containerId, `${e.containerId} ${e.ipv4.join(',')}  ${names.join(',')}`);
    await writeConfig(t.state, t.network, cfg);
    const pid = runningPid(dir);
    if (pid !== undefined) {
      process.kill(pid, 'SIGHUP');
      if (!(await settled(cfg.listen.split(',')[0] as string, probeName(e, names), true, 10_000))) {
        throw new BerthError('ENETWORK_PLUGIN', `resolver of network ${t.network}: ${e.containerId.slice(0, 12)} not served 10 s after the reload`);
      }
      return;
    }
    try {
      await start(t, dir, probeName(e, names));
    } catch (err) {
      if (before === undefined) cfg.entries.delete(e.containerId);
      else cfg.entries.set(e.containerId, before);
      if (cfg.entries.size === 0) await rm(dir, { recursive: true, force: true });
      else await writeConfig(t.state, t.network, cfg);
      throw err;
    }
  });
}

/** Removes a container's entries from the resolvers of `networks` (default: all); a resolver left with none is stopped. Idempotent. */
export async function removeResolverEntries(o: { state: string; containerId: string; networks?: readonly string[] }): Promise<void> {
  const networks = o.networks ?? (await resolverNetworks(o.state));
  for (const network of networks) await dropEntries(o.state, network, (id) => id === o.containerId);
}

async function resolverNetworks(state: string): Promise<string[]> {
  const names = await readdir(resolverRoot(state), { withFileTypes: true }).catch(() => []);
  return names.filter((d) => d.isDirectory()).map((d) => d.name);
}

async function dropEntries(state: string, network: string, gone: (id: string) => boolean | Promise<boolean>): Promise<string[]> {
  const dir = dirOf(state, network);
  if (!existsSync(dir)) return [];
  return locked(state, network, `resolver of network ${network}: lock`, async () => {
    const file = path.join(dir, network);
    const cfg = await readConfig(file, '');
    const dropped: string[] = [];
    for (const id of [...cfg.entries.keys()]) {
      if (!(await gone(id))) continue;
      cfg.entries.delete(id);
      dropped.push(id);
    }
    if (cfg.entries.size === 0 || !existsSync(file)) {
      await stop(dir);
      return dropped;
    }
    if (dropped.length === 0) return dropped;
    await writeConfig(state, network, cfg);
    const pid = runningPid(dir);
    if (pid !== undefined) {
      process.kill(pid, 'SIGHUP');
      // Gone when the last one dropped is: its short ID is its own name (best effort).
      await settled(cfg.listen.split(',')[0] as string, (dropped.at(-1) as string).slice(0, 12), false, 5_000);
    }
    return dropped;
  });
}

/** The cleanup path: entries of containers `alive` says are gone are removed, empty resolvers stopped. Returns the IDs removed. */
export async function sweepResolvers(o: { state: string; alive: (id: string) => boolean | Promise<boolean> }): Promise<string[]> {
  const out: string[] = [];
  for (const network of await resolverNetworks(o.state)) out.push(...(await dropEntries(o.state, network, async (id) => !(await o.alive(id)))));
  return out;
}

/** Whether a resolver process serves `network` (tests, inspect). */
export function resolverRunning(state: string, network: string): boolean {
  return runningPid(dirOf(state, network)) !== undefined;
}
