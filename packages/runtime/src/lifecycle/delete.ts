import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { killContainer } from './kill.js';
import { describe } from './state.js';
import { waitContainer } from './wait.js';

/** Mount points at or below `dir` in this process's mount namespace (unescaped from mountinfo). */
export function mountsUnder(dir: string, mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out;
}

/**
 * Deletes what is under `dir` (not `dir` itself) with one readdir per directory
 * and one unlink or rmdir per entry: fs.rmSync lstat()s every entry and tries
 * rmdir() on files first, about twice the system calls on a container's rootfs.
 * A directory on another device (a mount point the mountinfo check missed) is
 * refused before anything in it is touched.
 */
function removeContents(dir: string, dev: number): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (fs.lstatSync(p).dev !== dev) throw new BerthError('EIN_USE', `remove ${p}: another file system is mounted there`);
      removeContents(p, dev);
      fs.rmdirSync(p);
    } else {
      fs.unlinkSync(p);
    }
  }
}

/**
 * Removes a directory tree: quickly (removeContents), then, when something gets
 * in the way (read-only or mode-000 directories an image or a container made),
 * with fs.rm, and once more after making every directory owner-writable. Refuses
 * when something is mounted inside (a removal must never reach through a mount
 * into another tree).
 */
export function removeTree(dir: string): void {
  const mounted = mountsUnder(path.resolve(dir));
  if (mounted.length > 0) {
    throw new BerthError('EIN_USE', `remove ${dir}: ${mounted[0]} is mounted`, { details: { mounts: mounted } });
  }
  try {
    const st = fs.lstatSync(dir);
    if (st.isDirectory()) {
      removeContents(dir, st.dev);
      fs.rmdirSync(dir);
    } else {
      fs.unlinkSync(dir);
    }
    return;
  } catch (err) {
    if (err instanceof BerthError) throw err;
    // Gone already, or in the way (EACCES, EPERM, ENOTEMPTY...): the slower paths below.
  }
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw BerthError.wrap(`remove ${dir}`, err, 'EROOTFS');
  }
  const fix = (d: string): void => {
    try {
      const st = fs.lstatSync(d);
      if (!st.isDirectory()) return;
      fs.chmodSync(d, (st.mode & 0o7777) | 0o700);
      for (const e of fs.readdirSync(d)) fix(path.join(d, e));
    } catch {
      // Keep going: the final rm reports what is left.
    }
  };
  fix(dir);
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    throw BerthError.wrap(`remove ${dir}`, err, 'EROOTFS');
  }
}

/**
 * `delete`: removes a stopped container (with `force`, kills a running one
 * first): its cgroup (processes left in it are killed by the cgroup manager),
 * its rootfs when it owns it, its state directory and its name. Its mounts
 * need no cleanup: they live in the container's mount namespace, which the
 * kernel destroys with its last process.
 */
export async function deleteContainer(ctx: RuntimeContext, id: string, opts: { force?: boolean; marks?: Array<[string, number]> } = {}): Promise<void> {
  const mark = (name: string): void => {
    opts.marks?.push([name, performance.timeOrigin + performance.now()]);
  };
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `remove container ${id.slice(0, 12)}: no such container`);
  const info = describe(state);
  if (info.status === 'running') {
    if (!opts.force && info.restarting === true) {
      // docker's words for a container between two runs of its restart policy.
      throw new BerthError('ECONTAINER_STATE', `remove container ${info.shortId}: you cannot remove a restarting container: stop it first or force the removal`, {
        details: { status: 'restarting' },
      });
    }
    if (!opts.force) {
      throw new BerthError('ECONTAINER_STATE', `remove container ${info.shortId}: container is running: stop it first or force the removal`, {
        details: { status: 'running' },
      });
    }
    try {
      killContainer(ctx, id, 'SIGKILL');
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'ECONTAINER_STATE')) throw err;
    }
    await waitContainer(ctx, id, { timeoutMs: 10_000 });
  }
  if (state.cgroup) {
    try {
      const cg = await ctx.cgroups.open(id);
      await cg.remove();
    } catch (err) {
      throw BerthError.wrap(`remove container ${info.shortId}: cgroup`, err, 'ECGROUP');
    }
    mark('cgroup-removed');
  }
  if (state.ownsRootfs) {
    ctx.removeRootfs(state.rootfs);
    mark('rootfs-removed');
  }
  ctx.store.remove(id);
  ctx.store.releaseName(state.name, id);
}
