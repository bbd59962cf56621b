/**
 * The init protocol on the runtime's side (launchInit, parkInit) against a fake
 * spawner that plays the init over real pipes: the order in which the runtime
 * sees the child's exit and the end of its report pipe must not matter.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLONE_NEWPID, LibcSyscalls } from '@berth/sys';
import { discardParked, launchInit, parkInit, takeParkedStdio } from './init-process.js';
import type { ChildExit, SpawnRequest, SpawnedChild, Spawner } from './spawner.js';
import { prepareStdio, releaseStdio } from './stdio.js';
import type { PreparedStdio } from './stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sys = new LibcSyscalls();
const F_DUPFD_CLOEXEC = 1030;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/** A pretend init: keeps copies of its fds 3 (report, write end) and 4 (sync, read end). */
class FakeInit {
  readonly report: number;
  readonly sync: number;
  private resolveExit!: (e: ChildExit) => void;
  readonly exited = new Promise<ChildExit>((resolve) => (this.resolveExit = resolve));
  keptAlive: boolean[] = [];

  constructor(readonly req: SpawnRequest) {
    this.report = sys.fcntl(req.fds[3] as number, F_DUPFD_CLOEXEC, 10);
    this.sync = sys.fcntl(req.fds[4] as number, F_DUPFD_CLOEXEC, 10);
    sys.fcntl(this.sync, F_SETFL, O_NONBLOCK);
  }

  /** What the runtime has written on the sync pipe ('' at EOF), once there is something (10 s at most). */
  async readSync(): Promise<string> {
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 2000; i++) {
      try {
        const n = sys.read(this.sync, buf);
        return Buffer.from(buf.subarray(0, n)).toString();
      } catch (err) {
        if ((err as { details?: { errno?: string } }).details?.errno !== 'EAGAIN') throw err;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('nothing on the sync pipe');
  }

  say(msg: unknown): void {
    sys.write(this.report, `${JSON.stringify(msg)}\n`);
  }

  exit(code: number): void {
    this.resolveExit({ code, signal: null });
  }

  closeReport(): void {
    sys.close(this.report);
  }

  close(): void {
    for (const fd of [this.report, this.sync]) {
      try {
        sys.close(fd);
      } catch {
        // closed already
      }
    }
  }
}

class FakeSpawner {
  readonly inits: FakeInit[] = [];
  async spawn(req: SpawnRequest, opts: { keepAlive?: boolean } = {}): Promise<SpawnedChild> {
    const init = new FakeInit(req);
    init.keptAlive.push(opts.keepAlive ?? true);
    this.inits.push(init);
    return { pid: 999_999_999, exited: init.exited, keepAlive: (on) => init.keptAlive.push(on) };
  }
}

const spawners: FakeSpawner[] = [];
afterEach(() => {
  for (const s of spawners.splice(0)) for (const i of s.inits) i.close();
});

function options(spawner: FakeSpawner) {
  return { sys, spawner: spawner as unknown as Spawner, initScript: '/nonexistent/init.cjs', flags: CLONE_NEWPID };
}

/** Stdio made by a test (released after it). */
const made: PreparedStdio[] = [];
afterEach(() => {
  for (const p of made.splice(0)) releaseStdio(sys, p);
});
const newStdio = (): PreparedStdio => {
  const p = prepareStdio(sys);
  made.push(p);
  return p;
};

/** Parks an init (with pipes of its own) for `spawner`. */
function park(spawner: FakeSpawner): void {
  parkInit({ ...options(spawner), stdio: () => prepareStdio(sys) });
}

/** The parked init's stdio, taken as startContainer takes it: its fds are what fits that init. */
function takeStdio(spawner: FakeSpawner): [number, number, number] {
  const p = takeParkedStdio(spawner as unknown as Spawner);
  if (p === undefined) throw new Error('no parked stdio');
  made.push(p);
  return p.childFds;
}

/** The pipes (`pipe:[inode]`) behind `fds`. */
const pipesOf = (fds: number[]): string[] => fds.map((fd) => fs.readlinkSync(`/proc/self/fd/${fd}`));

/** Which of `pipes` this process still holds an end of (fd numbers are reused at once: the inode tells). */
function stillHeld(pipes: string[]): string[] {
  const held = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      held.add(fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // The directory's own fd, gone.
    }
  }
  return pipes.filter((p) => held.has(p));
}

describe('launchInit with a parked init', () => {
  it('takes the parked init, sends the start line and go, and succeeds even when the exit is seen before the end of the report pipe', async () => {
    const spawner = new FakeSpawner();
    spawners.push(spawner);
    park(spawner);
    expect(spawner.inits).toHaveLength(1);
    const init = spawner.inits[0] as FakeInit;
    // Parked: it does not keep the process alive, and nothing was written to it yet.
    expect(init.keptAlive).toEqual([false]);
    // Its fds 0-2 are pipes of its own, which the launch takes.
    const stdio = takeStdio(spawner);
    expect(init.req.fds.slice(0, 3)).toEqual(stdio);
    expect(takeParkedStdio(spawner as unknown as Spawner)).toBeUndefined();

    const launched = launchInit({ ...options(spawner), stdio, configPath: '/state/c1/config.json', stdinNull: true });
    expect(await init.readSync()).toBe(`${JSON.stringify({ config: '/state/c1/config.json', stdinNull: true })}\ng`);
    expect(init.keptAlive).toEqual([false, true]);
    // The container runs `true`: the exec report, then the exit is reported before the pipe's EOF.
    init.say({ type: 'exec', marks: [] });
    init.exit(0);
    await new Promise((r) => setTimeout(r, 50));
    init.closeReport();
    const r = await launched;
    expect(r.pid).toBe(999_999_999);
    expect(await r.exited).toEqual({ code: 0, signal: null });
    // No second init was spawned.
    expect(spawner.inits).toHaveLength(1);
  });

  it('reports the init\'s error (126) when execve fails after the exec report', async () => {
    const spawner = new FakeSpawner();
    spawners.push(spawner);
    park(spawner);
    const init = spawner.inits[0] as FakeInit;
    const launched = launchInit({ ...options(spawner), stdio: takeStdio(spawner), configPath: '/c.json' });
    await init.readSync();
    init.say({ type: 'exec', marks: [] });
    init.say({ type: 'error', code: 'ERUNTIME', message: 'exec "/etc/passwd": permission denied', exitCode: 126, details: {} });
    init.exit(126);
    init.closeReport();
    await expect(launched).rejects.toMatchObject({ message: 'exec "/etc/passwd": permission denied', details: { exitCode: 126 } });
  });

  it('a launch that does not fit the parked init (other stdio) discards it, and its pipes, and spawns its own', async () => {
    const spawner = new FakeSpawner();
    spawners.push(spawner);
    park(spawner);
    const parked = spawner.inits[0] as FakeInit;
    const parkedPipes = pipesOf(parked.req.fds.slice(0, 3) as number[]);
    expect(parkedPipes).toHaveLength(3);
    expect(stillHeld(parkedPipes)).toEqual(parkedPipes);
    const launched = launchInit({ ...options(spawner), stdio: newStdio().childFds, configPath: '/c.json' });
    // Nobody took the parked init's stdio: it is closed with it (both ends of each pipe).
    expect(stillHeld(parkedPipes)).toEqual([]);
    expect(spawner.inits).toHaveLength(2);
    // The parked one's sync pipe was closed by the runtime: it reads EOF (and would exit).
    expect(await parked.readSync()).toBe('');
    const fresh = spawner.inits[1] as FakeInit;
    expect(fresh.keptAlive).toEqual([true]);
    expect(await fresh.readSync()).toBe(`${JSON.stringify({ config: '/c.json', stdinNull: false })}\ng`);
    fresh.say({ type: 'exec', marks: [] });
    fresh.closeReport();
    fresh.exit(0);
    await expect(launched).resolves.toMatchObject({ pid: 999_999_999 });
  });
});

describe('discardParked', () => {
  it('kills the parked init and closes its pipes', async () => {
    const spawner = new FakeSpawner();
    spawners.push(spawner);
    park(spawner);
    const parkedPipes = pipesOf((spawner.inits[0] as FakeInit).req.fds.slice(0, 3) as number[]);
    discardParked(spawner as unknown as Spawner);
    // EOF on its sync pipe: the runtime's end is closed; so are its stdio pipes.
    expect(await (spawner.inits[0] as FakeInit).readSync()).toBe('');
    expect(stillHeld(parkedPipes)).toEqual([]);
    expect(takeParkedStdio(spawner as unknown as Spawner)).toBeUndefined();
    // A later launch spawns a fresh init.
    const launched = launchInit({ ...options(spawner), stdio: newStdio().childFds, configPath: '/c.json' });
    await new Promise((r) => setImmediate(r));
    expect(spawner.inits).toHaveLength(2);
    const fresh = spawner.inits[1] as FakeInit;
    fresh.say({ type: 'exec', marks: [] });
    fresh.closeReport();
    fresh.exit(0);
    await expect(launched).resolves.toMatchObject({ pid: 999_999_999 });
  });
});

describe('a parked init nobody took', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rt-park-'));
    const esbuild = await import('esbuild');
    const entry = path.join(dir, 'entry.ts');
    fs.writeFileSync(
      entry,
      [
        `export { parkInit } from ${JSON.stringify(path.join(here, 'init-process.ts'))};`,
        `export { prepareStdio } from ${JSON.stringify(path.join(here, 'stdio.ts'))};`,
        `export { Spawner } from ${JSON.stringify(path.join(here, 'spawner.ts'))};`,
        `export { LibcSyscalls } from ${JSON.stringify(path.join(here, '..', '..', '..', 'sys', 'src', 'libc-syscalls.ts'))};`,
      ].join('\n'),
    );
    await esbuild.build({
      entryPoints: [entry],
      outfile: path.join(dir, 'init-process.cjs'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      // As the runtime's own CommonJS bundles (build-entrypoints.mjs): @berth/sys names koffi's module by import.meta.url.
      define: { 'import.meta.url': '__filename' },
      target: 'node20',
      external: ['koffi'],
      alias: {
        '@berth/oci': path.join(here, '..', '..', '..', 'oci', 'src', 'errors.ts'),
        '@berth/sys': path.join(here, '..', '..', '..', 'sys', 'src', 'index.ts'),
      },
      logLevel: 'warning',
    });
    // The stand-in for the init: it would live 30 s.
    fs.writeFileSync(path.join(dir, 'init.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(path.join(dir, 'pid'))}, String(process.pid)); setTimeout(() => {}, 30000);`);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('dies when the process that parked it exits', async () => {
    const main = `
      const m = require(${JSON.stringify(path.join(dir, 'init-process.cjs'))});
      const sys = new m.LibcSyscalls();
      m.parkInit({ sys, spawner: new m.Spawner(), initScript: ${JSON.stringify(path.join(dir, 'init.cjs'))}, flags: 0, stdio: () => m.prepareStdio(sys) });
      setTimeout(() => { process.stdout.write('bye\\n'); process.exitCode = 4; }, 500);
    `;
    const r = spawnSync(process.execPath, ['-e', main], {
      encoding: 'utf8',
      // The stand-in no longer holds this stdout (its fds 0-2 are pipes of its own): this returns at its exit.
      timeout: 20_000,
      env: { ...process.env, NODE_PATH: path.join(here, '..', '..', '..', '..', 'node_modules'), NODE_OPTIONS: '' },
    });
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(4);
    expect(r.stdout).toBe('bye\n');
    const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    let alive = true;
    for (let i = 0; i < 200 && alive; i++) {
      try {
        alive = !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        alive = false;
      }
      if (alive) await new Promise((res) => setTimeout(res, 50));
    }
    expect(alive).toBe(false);
  });
});
