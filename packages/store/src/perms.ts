import { chmod, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from './fsutil.js';

/**
 * $BERTH_ROOT is root's (or, rootless, its user's) alone, as /var/lib/docker and
 * containerd's root are: every directory berth makes in it is 0700 and every file
 * 0600, so no other local user reads a private image's layers or holds a lock
 * file to stall berth. Files are created with these modes (the umask can only
 * drop bits, so it never widens them); roots made by older berth versions (0755
 * and 0644) are repaired once, when their top directory's mode is found wrong.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** `mkdir -p` whose new directories are 0700. An existing directory keeps its mode. */
export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** The permission bits of `p` (following a symlink), or undefined when it does not exist. */
async function modeOf(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).mode & 0o7777;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Make everything under `dir` owner-only: directories 0700, regular files 0600,
 * `dir` itself last (so an interrupted repair is redone: its mode is the mark).
 * Symlinks are neither followed nor changed (chmod would follow them out of the
 * tree); other file types are left alone. Only what differs is chmodded.
 * Returns how many entries were changed. With `missingOk`, a missing `dir` is 0.
 */
export async function makeTreePrivate(dir: string, opts: { missingOk?: boolean } = {}): Promise<number> {
  if (opts.missingOk && (await modeOf(dir)) === undefined) return 0;
  let changed = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const p = path.join(d, name);
      let st;
      try {
        st = await lstat(p);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue; // removed meanwhile (a temp file)
        throw err;
      }
      const want = st.isDirectory() ? PRIVATE_DIR_MODE : st.isFile() ? PRIVATE_FILE_MODE : undefined;
      if (st.isDirectory()) await walk(p);
      if (want === undefined || (st.mode & 0o7777) === want) continue;
      try {
        await chmod(p, want);
        changed++;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }
  };
  await walk(dir);
  if ((await modeOf(dir)) !== PRIVATE_DIR_MODE) {
    await chmod(dir, PRIVATE_DIR_MODE);
    changed++;
  }
  return changed;
}

export interface SecureRootOptions {
  /** Top-level directories of the root to make 0700 too, when they exist (their contents are left alone). */
  dirs?: readonly string[];
  /** Top-level directories whose whole contents are made private (makeTreePrivate) when the root itself had to be repaired. */
  trees?: readonly string[];
  /** Other names berth keeps in the root (e.g. `store`, which Store.open secures itself). */
  known?: readonly string[];
}

/**
 * Create the berth root `root` 0700, or make an existing one 0700, along with the
 * named top-level directories (e.g. `snapshots`, `containers`: their contents are
 * image file systems whose modes are the image's and stay exact; the 0700
 * parents are what keep other users out). When the root's own mode was wrong
 * (a root made by an older berth) the `trees` are walked too, once: the root's
 * mode, fixed last, is the mark. Missing parents of `root` get the usual modes.
 * A root that holds anything but `dirs`, `trees` and `known` is not berth's alone
 * (say `BERTH_ROOT=/tmp`): its own mode is left as it is, and its names are
 * returned as `foreign` (the named directories are still made 0700).
 * Returns whether anything had to be changed.
 */
export async function securePrivateRoot(root: string, opts: SecureRootOptions = {}): Promise<{ repaired: boolean; foreign: string[] }> {
  const abs = path.resolve(root);
  await mkdir(path.dirname(abs), { recursive: true });
  await mkdir(abs, { recursive: true, mode: PRIVATE_DIR_MODE });
  const rootWrong = (await modeOf(abs)) !== PRIVATE_DIR_MODE;
  let repaired = false;
  let foreign: string[] = [];
  if (rootWrong) {
    const known = new Set([...(opts.dirs ?? []), ...(opts.trees ?? []), ...(opts.known ?? [])]);
    foreign = (await readdir(abs)).filter((n) => !known.has(n)).sort();
    for (const d of opts.trees ?? []) if ((await makeTreePrivate(path.join(abs, d), { missingOk: true })) > 0) repaired = true;
  }
  const targets = (opts.dirs ?? []).map((d) => path.join(abs, d));
  if (foreign.length === 0) targets.push(abs);
  for (const p of targets) {
    const st = await stat(p).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    });
    if (!st?.isDirectory() || (st.mode & 0o7777) === PRIVATE_DIR_MODE) continue;
    await chmod(p, PRIVATE_DIR_MODE);
    repaired = true;
  }
  return { repaired, foreign };
}
