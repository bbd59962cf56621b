/**
 * unpackImage: `berth unpack REF DIR`: the image's root filesystem in DIR.
 * When the image's snapshot exists it is copied (reflinks where possible);
 * otherwise the layers are applied straight into DIR, so an unpack costs one
 * extraction and leaves no snapshot behind as a side effect.
 */
import { lstatSync, mkdtempSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BerthError } from '@berth/oci';
import type { Digest } from '@berth/oci';
import type { Store, StoredImage } from '@berth/store';
import { createRootfs } from './copy.js';
import { discardFailedBuild, imageChainId, type SnapshotProgress, type Snapshots } from './snapshots.js';

export interface UnpackImageOptions {
  store: Store;
  snapshots: Snapshots;
  image: Pick<StoredImage, 'manifest' | 'config'>;
  /** Must be absent or an empty directory. */
  dest: string;
  onProgress?: (e: SnapshotProgress) => void;
  log?: (msg: string) => void;
}

export interface UnpackImageResult {
  chainId: Digest;
  /** The snapshot copied from, when one existed. */
  snapshot: string | undefined;
  /** snapshot/reflink/copy: from the snapshot (see createRootfs); layers: the layers applied into DIR. */
  method: 'snapshot' | 'reflink' | 'copy' | 'layers';
  /** Entries copied, or entries applied from the layers; undefined for 'snapshot' (nothing was walked). */
  files: number | undefined;
}

export async function unpackImage(opts: UnpackImageOptions): Promise<UnpackImageResult> {
  const dest = resolve(opts.dest);
  const doing = `unpack into ${dest}`;
  checkDest(dest, doing);
  if (resolve(opts.store.root) !== resolve(opts.snapshots.store.root)) {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: the snapshots read layers from store ${opts.snapshots.store.root}, not ${opts.store.root}`);
  }
  const chain = imageChainId(opts.image);
  // Copy under a shared lock so gc cannot remove the snapshot mid-copy.
  if (await opts.snapshots.has(chain)) {
    const lock = await opts.snapshots.lock(chain, 'shared');
    if (lock) {
      try {
        if (await opts.snapshots.has(chain)) {
          const snapshot = opts.snapshots.path(chain);
          const copied = await createRootfs({ snapshot, dest, ...(opts.log ? { log: opts.log } : {}) });
          return { chainId: chain, snapshot, ...copied };
        }
      } finally {
        await lock.release();
      }
    }
  }
  // No snapshot: apply the layers into a sibling temp dir, then rename it into place.
  const tmp = mkdtempSync(join(dirname(dest), `.${basename(dest)}.berth-unpack-`));
  try {
    const files = await opts.snapshots.applyImage({ image: opts.image, dir: tmp, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    if (readdirSafe(dest) !== undefined) rmdirSync(dest);
    renameSync(tmp, dest);
    opts.log?.(`applied ${opts.image.manifest.layers.length} layers into ${dest}`);
    return { chainId: chain, snapshot: undefined, method: 'layers', files };
  } catch (err) {
    throw discardFailedBuild(tmp, doing, err);
  }
}

function readdirSafe(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch {
    return undefined;
  }
}

function checkDest(dest: string, doing: string): void {
  let st;
  try {
    st = lstatSync(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw BerthError.wrap(doing, err, 'EROOTFS');
  }
  if (!st.isDirectory()) throw new BerthError('EROOTFS', `${doing}: exists and is not a directory`);
  if (readdirSync(dest).length > 0) throw new BerthError('EROOTFS', `${doing}: the directory is not empty`);
}
