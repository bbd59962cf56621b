import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, describeError } from '@berth/oci';
import { createRootfs, removeTree } from '@berth/rootfs';
import { processExists } from './sweep.js';
import { LibcSyscalls, MNT_DETACH } from '@berth/sys';

/** mount(2)/umount2(2) through @berth/sys (a `mount` process per call cost ~100× more). */
let calls: LibcSyscalls | undefined;
async function sys(): Promise<LibcSyscalls> {
  calls ??= new LibcSyscalls();
  return calls;
}

/**
 * Where build trees live and how a step gets a writable tree.
 *
 * - `overlay` (root, kernel overlayfs): a stage's tree is a read-only base
 *   directory (an image snapshot, or empty) plus one overlay upper directory
 *   per executed step. A step writes to a fresh overlay mount over the stack;
 *   nothing is copied. The step's diff is taken between a read-only overlay
 *   view of the stack before the step and the step's mount, so layers come
 *   from the same createLayer diff either way.
 * - `copy` (fallback: no overlayfs, not root, odd paths): each step gets a
 *   full copy of the previous tree (createRootfs: reflinks where the file
 *   system can).
 */
export type WorkspaceMode = 'overlay' | 'copy';

/** Overlay mount options must stay under a page; beyond this many bytes the stack is flattened into a copy. */
const MAX_OPTIONS_BYTES = 3000;
const UNSAFE_FOR_OPTIONS = /[,:\\\s]/;

export class Workspace {
  private counter = 0;
  private readonly mounts = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly mode: WorkspaceMode,
  ) {}

  /**
   * Create the workspace directory (`<root>/build-<pid>-<n>`), clearing
   * leftovers of builds whose process died (their mounts too), and pick the
   * mode: overlay when a probe mount works (BERTH_BUILD_OVERLAY=0 forces copy).
   */
  static async create(root: string, opts: { lowerDirs?: string[]; mode?: WorkspaceMode | 'auto' } = {}): Promise<Workspace> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await sweepBuildTrees(root);
    let dir: string | undefined;
    for (let i = 0; i < 1000 && dir === undefined; i++) {
      const candidate = path.join(root, `build-${process.pid}-${i}`);
      try {
        await mkdir(candidate, { mode: 0o700 });
        dir = candidate;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (dir === undefined) throw new BerthError('EBUILD', `create a build directory in ${root}: too many concurrent builds`);
    await writeFile(path.join(dir, 'pid'), `${process.pid}\n`, { mode: 0o600 });
    const wanted = opts.mode ?? 'auto';
    const mode = wanted === 'copy' || !(opts.lowerDirs ?? []).every(overlaySafe) ? 'copy' : await probeOverlay(dir);
    if (wanted === 'overlay' && mode !== 'overlay') {
      await removeTree(dir).catch(() => undefined);
      throw new BerthError('EUNSUPPORTED', `build trees: overlay mounts are not available here (root and overlayfs are needed)`);
    }
    return new Workspace(dir, mode);
  }

  newDir(prefix: string): string {
    return path.join(this.dir, `${prefix}-${++this.counter}`);
  }

  /** An empty directory (the base of `from: scratch`). */
  async emptyDir(): Promise<string> {
    const d = this.newDir('empty');
    await mkdir(d, { mode: 0o755 });
    return d;
  }

  async mountOverlay(target: string, lowers: string[], upper?: { upper: string; work: string }): Promise<void> {
    let options = `lowerdir=${lowers.join(':')}`;
    if (upper) options += `,upperdir=${upper.upper},workdir=${upper.work}`;
    await mkdir(target, { recursive: true, mode: 0o755 });
    const m = await sys();
    try {
      m.mount('overlay', target, 'overlay', 0, options);
    } catch (err) {
      throw new BerthError('EBUILD', `mount overlay at ${target}: ${describeError(err)}`, { cause: err });
    }
    this.mounts.add(target);
  }

  async unmount(target: string): Promise<void> {
    if (!this.mounts.has(target)) return;
    const m = await sys();
    try {
      m.umount2(target, 0);
    } catch {
      // Busy (a process still in it?): detach lazily so cleanup can proceed.
      try {
        m.umount2(target, MNT_DETACH);
      } catch {
        // already gone
      }
    }
    this.mounts.delete(target);
  }

  /** Unmount everything and remove the directory. */
  async dispose(): Promise<void> {
    for (const m of [...this.mounts].reverse()) await this.unmount(m);
    await removeTree(this.dir).catch(async () => {
      await unmountBelow(this.dir);
      await removeTree(this.dir).catch(() => rm(this.dir, { recursive: true, force: true }));
    });
  }
}

/**
 * The tree of one stage as it grows step by step. Layers are immutable once a
 * step is committed, so a stack can be forked (`from: <stage>`) cheaply.
 */
export class TreeStack {
  /** Overlay mode: upper dirs of committed steps, oldest first. Copy mode: unused. */
  private uppers: string[];
  /** Copy mode: the current tree and whether this stack made it (and may delete it). */
  private current: { path: string; owned: boolean } | undefined;
  private view: string | undefined;
  private pending: { target: string; upper?: string; work?: string } | undefined;

  constructor(
    private readonly ws: Workspace,
    /** Read-only base: an image snapshot, or an empty dir; undefined = empty. */
    private base: string | undefined,
    uppers: string[] = [],
    current?: { path: string; owned: boolean },
  ) {
    this.uppers = uppers;
    this.current = current ?? (base ? { path: base, owned: false } : undefined);
  }

  fork(): TreeStack {
    if (this.ws.mode === 'overlay') return new TreeStack(this.ws, this.base, [...this.uppers]);
    return new TreeStack(this.ws, this.base, [], this.current ? { path: this.current.path, owned: false } : undefined);
  }

  private lowers(): string[] {
    // Overlay lists the topmost lower first.
    return [...this.uppers].reverse().concat(this.base ? [this.base] : []);
  }

  /** A read-only view of the current tree (undefined for an empty tree). Valid until the next commit. */
  async readView(): Promise<string | undefined> {
    if (this.ws.mode === 'copy') return this.current?.path;
    if (this.uppers.length === 0) return this.base;
    if (this.view) return this.view;
    const lowers = this.lowers();
    // A read-only overlay needs two or more lower layers.
    if (lowers.length === 1) return lowers[0];
    const target = this.ws.newDir('view');
    await this.ws.mountOverlay(target, lowers);
    this.view = target;
    return target;
  }

  /** A writable tree for one step: an overlay over the stack, or a copy of the current tree. */
  async begin(): Promise<string> {
    if (this.pending) throw new BerthError('EBUILD', 'internal: a step is already in progress on this tree');
    const target = this.ws.newDir('tree');
    if (this.ws.mode === 'overlay') {
      if (this.lowers().join(':').length > MAX_OPTIONS_BYTES) await this.flatten();
      const upper = this.ws.newDir('upper');
      const work = this.ws.newDir('work');
      await mkdir(upper, { mode: 0o755 });
      await mkdir(work, { mode: 0o700 });
      const lowers = this.lowers();
      if (lowers.length === 0) lowers.push(await this.ws.emptyDir());
      await this.ws.mountOverlay(target, lowers, { upper, work });
      this.pending = { target, upper, work };
      return target;
    }
    if (this.current) await createRootfs({ snapshot: this.current.path, dest: target });
    else await mkdir(target, { mode: 0o755 });
    this.pending = { target };
    return target;
  }

  /** The step's tree becomes the current tree. */
  async commit(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    if (this.ws.mode === 'overlay') {
      await this.ws.unmount(p.target);
      if (this.view) {
        await this.ws.unmount(this.view);
        this.view = undefined;
      }
      this.uppers.push(p.upper as string);
      await rm(p.work as string, { recursive: true, force: true }).catch(() => undefined);
      return;
    }
    const old = this.current;
    this.current = { path: p.target, owned: true };
    if (old?.owned) await removeTree(old.path).catch(() => undefined);
  }

  /** Throw the step's tree away. */
  async abort(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    if (this.ws.mode === 'overlay') {
      await this.ws.unmount(p.target);
      for (const d of [p.upper, p.work]) if (d) await removeTree(d).catch(() => undefined);
      return;
    }
    await removeTree(p.target).catch(() => undefined);
  }

  /** Unmount this stack's views (its directories go with the workspace). */
  async dispose(): Promise<void> {
    await this.abort();
    if (this.view) {
      await this.ws.unmount(this.view);
      this.view = undefined;
    }
  }

  /** Too many layers for one mount: copy the merged view into a plain directory and start over from it. */
  private async flatten(): Promise<void> {
    const view = await this.readView();
    const flat = this.ws.newDir('flat');
    if (view) await createRootfs({ snapshot: view, dest: flat });
    else await mkdir(flat, { mode: 0o755 });
    if (this.view) {
      await this.ws.unmount(this.view);
      this.view = undefined;
    }
    this.base = flat;
    this.uppers = [];
  }
}

async function probeOverlay(dir: string): Promise<WorkspaceMode> {
  if (process.env['BERTH_BUILD_OVERLAY'] === '0') return 'copy';
  if (process.getuid?.() !== 0) return 'copy';
  if (UNSAFE_FOR_OPTIONS.test(dir)) return 'copy';
  const probe = path.join(dir, 'probe');
  const dirs = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(probe, d));
  try {
    for (const d of dirs) await mkdir(d, { recursive: true });
    const m = await sys();
    m.mount('overlay', dirs[3] as string, 'overlay', 0, `lowerdir=${dirs[0]},upperdir=${dirs[1]},workdir=${dirs[2]}`);
    m.umount2(dirs[3] as string, 0);
    return 'overlay';
  } catch {
    return 'copy';
  } finally {
    await rm(probe, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Paths given to overlay must not contain option separators; callers fall back to copy mode otherwise. */
export function overlaySafe(p: string): boolean {
  return !UNSAFE_FOR_OPTIONS.test(p);
}

/**
 * Remove `build-<pid>-*` directories of processes that no longer exist (unmounting what
 * they left mounted); with `own`, this process's too (an interrupted build cleaning up
 * after itself). Resolves with the directories removed.
 */
export async function sweepBuildTrees(root: string, opts: { own?: boolean } = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^build-(\d+)-\d+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid ? !opts.own : processExists(pid)) continue;
    const dir = path.join(root, name);
    const recorded = await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '');
    if (recorded.trim() !== '' && Number(recorded.trim()) !== pid) continue;
    await unmountBelow(dir);
    await removeTree(dir).then(
      () => removed.push(dir),
      () => undefined,
    );
  }
  return removed;
}


/** Unmount (lazily, deepest first) every mount point at or below `dir`. */
async function unmountBelow(dir: string): Promise<void> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  if (points.length === 0) return;
  const m = await sys().catch(() => undefined);
  for (const p of points) {
    try {
      m?.umount2(p, MNT_DETACH);
    } catch {
      // already gone
    }
  }
}
