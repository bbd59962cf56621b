/**
 * `berth cp`: files between a container's root filesystem (a plain directory) and the host, or a
 * tar stream. The archive is @berth/layers' createLayer in archive mode (what `export` and
 * `commit` write with) and the extraction its applyLayer without whiteouts (contained, entry by
 * entry). Paths in the container resolve through @berth/fs-root: a symlink in it never leads out.
 */
import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import type { ContainerInfo } from '@berth/runtime';
import type { CommandContext } from '../context.js';
import { VolumeStore } from '../volumes.js';
import { archiveTree, copyTree, extractTree } from '../tree-copy.js';
import { prepareArchiveCopy, specifiesCurrentDir, splitCpArg, splitPathDirEntry, type CopyDest, type CopySource } from '../cp-paths.js';

export interface CpFlags {
  archive?: boolean;
  followLink?: boolean;
  quiet?: boolean;
}

/** `berth cp SRC DEST`: exactly one side names a container (docker's words when not). */
export async function cp(ctx: CommandContext, srcArg: string, dstArg: string, flags: CpFlags): Promise<number> {
  const src = splitCpArg(srcArg);
  const dst = splitCpArg(dstArg);
  if (src.kind === 'container' && dst.kind === 'container') throw new BerthError('EUNSUPPORTED', 'copying between containers is not supported');
  if (src.kind !== 'container' && dst.kind !== 'container') throw new BerthError('EINVAL_ARGUMENT', 'must specify at least one container source');
  const { Runtime } = await import('@berth/runtime');
  const rt = new Runtime({ stateDir: ctx.loc.state });
  const c = await rt.inspect(src.kind === 'container' ? src.container : (dst as { container: string }).container);
  return withContainerStill(rt, c, async () => {
    if (src.kind === 'container') await copyOut(ctx, c, src.container, src.path, dst.kind === 'stream' ? undefined : (dst as { path: string }).path, flags);
    else if (dst.kind === 'container') await copyIn(ctx, c, dst.container, dst.path, src.kind === 'stream' ? undefined : src.path, flags);
    return 0;
  });
}

/**
 * Run `fn` with a running container frozen (docker pauses it too since CVE-2018-15664): its
 * processes cannot swap a checked directory for a symlink while berth reads or writes through it.
 */
async function withContainerStill<T>(rt: import('@berth/runtime').Runtime, c: ContainerInfo, fn: () => Promise<T>): Promise<T> {
  const freeze = c.status === 'running' && c.paused !== true;
  if (freeze) await rt.pause(c.id);
  try {
    return await fn();
  } finally {
    if (freeze) await rt.resume(c.id).catch(() => undefined);
  }
}

function notFound(container: string, p: string): BerthError {
  return new BerthError('ENOT_FOUND', `No such container:path: ${container}:${p}`);
}

/** lstat, or undefined when nothing is there. */
function lookup(host: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(host) : lstatSync(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** A container's root and the host directories of its volumes and bind mounts, where cp reads and writes as docker's does. */
interface ContainerFs {
  rootfs: string;
  /** Mount destination → host source, deepest first (a tmpfs lives only in the running container: not seen). */
  mounts: Array<{ dest: string; source: string }>;
}

function containerFs(ctx: CommandContext, c: ContainerInfo): ContainerFs {
  const rec = new VolumeStore(ctx.loc.root).record(c.id);
  const mounts = (rec?.Mounts ?? []).filter((m) => m.Type !== 'tmpfs').map((m) => ({ dest: m.Destination, source: m.Source }));
  return { rootfs: c.rootfs, mounts: mounts.sort((a, b) => b.dest.length - a.dest.length) };
}

/**
 * resolveInRoot across the container's mounts: resolved in the rootfs, and when that lands under
 * a mount's destination, the rest resolved again inside the mount's source (a symlink in a
 * volume stays in the volume).
 */
async function resolveIn(fs: ContainerFs, p: string): Promise<string> {
  const { resolveInRoot, insideRoot } = await import('@berth/fs-root');
  const host = resolveInRoot(fs.rootfs, p);
  const inner = insideRoot(fs.rootfs, host) ?? '/';
  const m = fs.mounts.find((x) => inner === x.dest || inner.startsWith(`${x.dest}/`));
  return m ? resolveInRoot(m.source, inner.slice(m.dest.length) || '/') : host;
}

/**
 * A container path on the host, docker's ResolvePath: the parent resolved inside the root, the
 * last component kept as it is (a symlink is copied as a symlink) unless the path ends in `/`
 * or `/.` or `follow` (-L) is asked, then the whole path is resolved (inside the root).
 */
async function resolveContainerPath(fs: ContainerFs, p: string, follow: boolean): Promise<string> {
  const abs = p.startsWith('/') ? p : `/${p}`;
  const { dir, base } = splitPathDirEntry(abs);
  if (follow || p.endsWith('/') || base === '.' || base === '/') return resolveIn(fs, abs);
  const whole = await resolveIn(fs, abs);
  // A mount point itself is its source, not the rootfs's directory under it.
  if (fs.mounts.some((m) => m.source === whole)) return whole;
  return path.join(await resolveIn(fs, dir), base);
}

/** The name an archive of `p` takes: its last entry (`.` for `dir/.`), `.` for the root. */
function rootNameOf(p: string): string {
  const base = splitPathDirEntry(p).base;
  return base === '/' ? '.' : base;
}

async function copyOut(ctx: CommandContext, c: ContainerInfo, container: string, srcPath: string, dstPath: string | undefined, flags: CpFlags): Promise<void> {
  const follow = Boolean(flags.followLink);
  const host = await resolveContainerPath(containerFs(ctx, c), srcPath, follow);
  const st = lookup(host, false);
  if (!st) throw notFound(container, srcPath);
  if (!st.isDirectory() && (srcPath.endsWith('/') || specifiesCurrentDir(srcPath))) throw new BerthError('EINVAL_ARGUMENT', `${container}:${srcPath}: not a directory`);
  const rootName = rootNameOf(srcPath.startsWith('/') ? srcPath : `/${srcPath}`);
  if (dstPath === undefined) {
    const { stream, done } = await archiveTree(host, rootName);
    // docker writes the daemon's archive as it is: the container's owners, the source's name.
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.pipe(ctx.stdout, { end: false });
    });
    await done;
    return;
  }
  const source: CopySource = { path: srcPath, isDir: st.isDirectory(), rebaseName: rootName };
  const plan = prepareArchiveCopy(source, localDest(dstPath));
  const dir = plan.into === 'dest' ? dstPath : localParent(dstPath);
  const owner = flags.archive ? undefined : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  await copyTree({ target: host, rootName, dir, ...(plan.rebase ? { rebase: plan.rebase } : {}), ...(owner ? { owner } : {}) });
}

/** A host destination, looked up as docker does (a symlink followed). */
function localDest(p: string): CopyDest {
  const st = lookup(p, true);
  return { path: p, exists: st !== undefined, isDir: st?.isDirectory() ?? false };
}

/** The directory a host destination's parent is; it must exist (docker: `lstat DIR: no such file or directory`). */
function localParent(p: string): string {
  const { dir } = splitPathDirEntry(p);
  const st = lookup(dir, true);
  if (!st) throw new BerthError('ENOT_FOUND', `lstat ${dir}: no such file or directory`);
  if (!st.isDirectory()) throw new BerthError('EINVAL_ARGUMENT', `${dir}: not a directory`);
  return dir;
}

async function copyIn(ctx: CommandContext, c: ContainerInfo, container: string, dstPath: string, srcPath: string | undefined, flags: CpFlags): Promise<void> {
  const fs = containerFs(ctx, c);
  const abs = dstPath.startsWith('/') ? dstPath : `/${dstPath}`;
  // The destination is followed as docker's CLI follows it, but inside the container's root.
  const dstHost = await resolveIn(fs, abs);
  const dstSt = lookup(dstHost, false);
  const dest: CopyDest = { path: abs, exists: dstSt !== undefined, isDir: dstSt?.isDirectory() ?? false };
  const owner = flags.archive ? undefined : { uid: 0, gid: 0 };
  if (srcPath === undefined) {
    // docker: a tar on stdin goes into a directory, as it is.
    if (!dest.isDir) throw new BerthError('EINVAL_ARGUMENT', `destination "${container}:${dstPath}" must be a directory`);
    await extractTree({ source: ctx.stdin, dir: dstHost, ...(owner ? { owner } : {}) });
    return;
  }
  const st = lookup(srcPath, Boolean(flags.followLink));
  if (!st) throw new BerthError('ENOT_FOUND', `lstat ${srcPath}: no such file or directory`);
  if (!st.isDirectory() && assertsDir(srcPath)) throw new BerthError('EINVAL_ARGUMENT', `${srcPath}: not a directory`);
  const rootName = rootNameOf(path.resolve(srcPath) === '/' ? '/' : srcPath);
  const target = flags.followLink ? realpathSync(srcPath) : srcPath;
  const plan = prepareArchiveCopy({ path: srcPath, isDir: st.isDirectory(), rebaseName: rootName }, dest);
  let dir = dstHost;
  if (plan.into === 'parent') {
    const parent = splitPathDirEntry(abs).dir;
    const host = await resolveIn(fs, parent);
    if (!lookup(host, false)?.isDirectory()) throw new BerthError('ENOT_FOUND', `Could not find the file ${parent} in container ${container}`);
    dir = host;
  } else if (!dest.isDir) {
    throw new BerthError('EINVAL_ARGUMENT', `extraction point ${abs} in container ${container} is not a directory`);
  }
  await copyTree({ target, rootName, dir, ...(plan.rebase ? { rebase: plan.rebase } : {}), ...(owner ? { owner } : {}) });
}

function assertsDir(p: string): boolean {
  return p.endsWith('/') || specifiesCurrentDir(p);
}
