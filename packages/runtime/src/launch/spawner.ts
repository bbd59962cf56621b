import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BerthError } from '@berth/oci';

/**
 * Namespaces are per thread in Linux and Node cannot fork, so the runtime
 * keeps one worker thread that, for each container: unshare()s the wanted
 * namespaces (pid applies to the children it makes), child_process.spawn()s
 * the init child from that thread (libuv forks from the calling thread, so the
 * child is PID 1 of the new pid namespace and lives in the new mount/uts/ipc/
 * net namespaces), then setns()es itself back into the namespaces it started
 * in, ready for the next container. The main thread never changes namespace.
 *
 * The worker also owns the ChildProcess objects (their exit is reaped on its
 * event loop) and reports each exit to the main thread. It stays alive while
 * any child runs: the init sets PR_SET_PDEATHSIG, which fires when the
 * spawning thread ends.
 *
 * Event-loop liveness: the worker is ref()'d while it boots and while any child
 * runs, and unref()'d only once it is ready and idle. A caller awaiting warm()
 * (or a spawn, or a child's exit) with nothing else pending must keep the
 * process alive: with the worker unref()'d during its boot, Node saw an empty
 * loop, ran no more code and exited with status 0 (the `berth run` that exited
 * 0 under load, leaving its rootfs copy behind).
 */

export interface SpawnRequest {
  /** CLONE_NEW* flags to unshare for the child. */
  flags: number;
  file: string;
  args: string[];
  env: Record<string, string>;
  /** The child's fds: child fd i = fds[i] of this process (fds must be O_CLOEXEC here). */
  fds: number[];
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedChild {
  pid: number;
  exited: Promise<ChildExit>;
}

// The worker's code, evaluated as CommonJS: it must not depend on the TypeScript
// sources (vitest runs those, a Worker cannot), only on koffi, whose resolved
// path comes in workerData.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const koffi = require(workerData.koffi);
const libc = koffi.load('libc.so.6');
const unshare = libc.func('int unshare(int flags)');
const setns = libc.func('int setns(int fd, int nstype)');
const open = libc.func('int open(const char *path, int flags)');
const O_RDONLY_CLOEXEC = 0o2000000;
const NAMESPACES = [['mnt', 0x00020000], ['uts', 0x04000000], ['ipc', 0x08000000], ['net', 0x40000000], ['pid', 0x20000000], ['cgroup', 0x02000000]];
const home = [];
for (const [name, flag] of NAMESPACES) {
  const fd = open('/proc/thread-self/ns/' + name, O_RDONLY_CLOEXEC);
  if (fd >= 0) home.push([flag, fd, name]);
}
const errnoName = (n) => (Object.entries(require('node:os').constants.errno).find(([, v]) => v === n) || ['errno ' + n])[0];
parentPort.on('message', (req) => {
  let child;
  let failure;
  if (unshare(req.flags) !== 0) {
    parentPort.postMessage({ type: 'error', id: req.id, message: 'unshare: ' + errnoName(koffi.errno()), syscall: 'unshare', errno: errnoName(koffi.errno()) });
    return;
  }
  try {
    child = spawn(req.file, req.args, { stdio: req.fds, env: req.env, detached: true, cwd: '/' });
  } catch (err) {
    failure = err;
  }
  for (const [flag, fd, name] of home) {
    if ((req.flags & flag) === 0) continue;
    if (setns(fd, flag) !== 0) {
      // This thread is stuck in a container's namespace: it must not spawn again.
      parentPort.postMessage({ type: 'fatal', message: 'setns ' + name + ': ' + errnoName(koffi.errno()) });
      process.exit(1);
    }
  }
  if (failure || child.pid === undefined) {
    const report = (err) => parentPort.postMessage({ type: 'error', id: req.id, message: 'spawn ' + req.file + ': ' + (err && err.code ? err.code : String(err)), errno: err && err.code });
    if (failure) report(failure);
    else child.once('error', report);
    return;
  }
  child.on('error', () => {});
  child.once('exit', (code, signal) => parentPort.postMessage({ type: 'exit', id: req.id, code, signal }));
  parentPort.postMessage({ type: 'spawned', id: req.id, pid: child.pid });
});
parentPort.postMessage({ type: 'ready' });
`;

interface Pending {
  resolveSpawn: (pid: number) => void;
  rejectSpawn: (err: BerthError) => void;
  resolveExit: (e: ChildExit) => void;
  rejectExit: (err: BerthError) => void;
  spawned: boolean;
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'error'; id: number; message: string; syscall?: string; errno?: string }
  | { type: 'fatal'; message: string };

export class Spawner {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** The worker has not reported `ready` yet (it keeps the process alive meanwhile). */
  private booting = false;

  /**
   * Starts the worker now (it takes tens of ms), e.g. while a rootfs is being prepared.
   * The process stays alive until the worker is ready, so awaiting this is safe.
   */
  warm(): Promise<void> {
    this.start();
    return this.ready as Promise<void>;
  }

  private start(): void {
    if (this.worker !== undefined) return;
    const koffi = createRequire(import.meta.url).resolve('koffi');
    // WORKER_SOURCE is CommonJS: drop an inherited --input-type=module, which would make it ESM.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv, workerData: { koffi }, stdout: false, stderr: false });
    this.worker = worker;
    // Referenced until ready (a Worker starts referenced): see the liveness note above.
    this.booting = true;
    this.ready = new Promise((resolve, reject) => {
      worker.once('message', (m: WorkerMessage) => {
        this.booting = false;
        this.updateRef();
        if (m.type === 'ready') resolve();
        else reject(new Error(`unexpected ${m.type}`));
      });
      worker.once('error', reject);
    });
    // Avoid an unhandled rejection when nobody awaits readiness (failures reach callers via the pending map).
    this.ready.catch(() => {});
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    // Only the current worker's end matters (after close(), a new one may be running).
    worker.on('error', (err) => this.worker === worker && this.onWorkerGone(`namespace worker failed: ${err.message}`));
    worker.on('exit', (code) => this.worker === worker && this.onWorkerGone(`namespace worker exited (${code})`));
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'ready') return;
    if (m.type === 'fatal') {
      this.onWorkerGone(`namespace worker: ${m.message}`);
      return;
    }
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    if (m.type === 'spawned') {
      p.spawned = true;
      p.resolveSpawn(m.pid);
    } else if (m.type === 'error') {
      this.pending.delete(m.id);
      const code = m.syscall !== undefined ? 'ESYSCALL' : 'ERUNTIME';
      const err = new BerthError(code, m.message, { details: { syscall: m.syscall, errno: m.errno } });
      p.rejectSpawn(err);
      p.rejectExit(err);
      this.updateRef();
    } else {
      this.pending.delete(m.id);
      p.resolveExit({ code: m.code, signal: m.signal });
      this.updateRef();
    }
  }

  private onWorkerGone(message: string): void {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.booting = false;
    const err = new BerthError('ERUNTIME', message);
    for (const p of this.pending.values()) {
      if (!p.spawned) p.rejectSpawn(err);
      p.rejectExit(err);
    }
    this.pending.clear();
    if (worker !== undefined) void worker.terminate();
  }

  private updateRef(): void {
    if (this.worker === undefined) return;
    if (this.booting || this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  /** Spawns a child in new namespaces; resolves once it exists (its pid), with a promise of its exit. */
  async spawn(req: SpawnRequest): Promise<SpawnedChild> {
    this.start();
    const worker = this.worker as Worker;
    const id = this.nextId++;
    let resolveSpawn!: (pid: number) => void;
    let rejectSpawn!: (err: BerthError) => void;
    let resolveExit!: (e: ChildExit) => void;
    let rejectExit!: (err: BerthError) => void;
    const spawned = new Promise<number>((res, rej) => {
      resolveSpawn = res;
      rejectSpawn = rej;
    });
    const exited = new Promise<ChildExit>((res, rej) => {
      resolveExit = res;
      rejectExit = rej;
    });
    exited.catch(() => {});
    this.pending.set(id, { resolveSpawn, rejectSpawn, resolveExit, rejectExit, spawned: false });
    this.updateRef();
    worker.postMessage({ id, ...req });
    const pid = await spawned;
    return { pid, exited };
  }

  /** Number of children still running. */
  get active(): number {
    return this.pending.size;
  }

  /** Ends the worker once no child runs (a running child would get SIGKILL through PR_SET_PDEATHSIG). */
  async close(): Promise<void> {
    if (this.worker === undefined) return;
    if (this.pending.size > 0) throw new BerthError('ECONTAINER_STATE', 'close runtime: containers are still running');
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.booting = false;
    await w.terminate();
  }
}

let shared: Spawner | undefined;

/** The process-wide spawner (one namespace worker per process). */
export function sharedSpawner(): Spawner {
  shared ??= new Spawner();
  return shared;
}
