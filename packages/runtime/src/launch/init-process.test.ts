/**
 * The init protocol on the runtime's side (launchInit, parkInit) against a fake
 * spawner that plays the init over real pipes: the order in which the runtime
 * sees the child's exit and the end of its report pipe must not matter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LibcSyscalls } from '../sys/libc.js';
import { CLONE_NEWPID } from '../sys/syscalls.js';
import { launchInit, parkInit } from './init-process.js';
import type { ChildExit, SpawnRequest, SpawnedChild, Spawner } from './spawner.js';

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
  return { sys, spawner: spawner as unknown as Spawner, initScript: '/nonexistent/init.cjs', flags: CLONE_NEWPID, stdio: [0, 1, 2] as [number, number, number] };
}

describe('launchInit with a parked init', () => {
  it('takes the parked init, sends the start line and go, and succeeds even when the exit is seen before the end of the report pipe', async () => {
    const spawner = new FakeSpawner();
    spawners.push(spawner);
    parkInit(options(spawner));
    expect(spawner.inits).toHaveLength(1);
    const init = spawner.inits[0] as FakeInit;
    // Parked: it does not keep the process alive, and nothing was written to it yet.
    expect(init.keptAlive).toEqual([false]);

    const launched = launchInit({ ...options(spawner), configPath: '/state/c1/config.json', stdinNull: true });
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
    parkInit(options(spawner));
    const init = spawner.inits[0] as FakeInit;
    const launched = launchInit({ ...options(spawner), configPath: '/c.json' });
    await init.readSync();
    init.say({ type: 'exec', marks: [] });
    init.say({ type: 'error', code: 'ERUNTIME', message: 'exec "/etc/passwd": permission denied', exitCode: 126, details: {} });
    init.exit(126);
    init.closeReport();
    await expect(launched).rejects.toMatchObject({ message: 'exec "/etc/passwd": permission denied', details: { exitCode: 126 } });
  });

  it('a launch that does not fit the parked init (other stdio) discards it and spawns its own', async () => {
    const spawner = new FakeSpawner();
    spawners.push(spawner);
    parkInit(options(spawner));
    const parked = spawner.inits[0] as FakeInit;
    const launched = launchInit({ ...options(spawner), stdio: [0, 1, 1], configPath: '/c.json' });
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
