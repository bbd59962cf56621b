/**
 * unpackImage: `berth unpack REF DIR`: the image's snapshot (built once, by
 * chain ID) copied into DIR.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { BerthError } from '@berth/oci';
import type { Digest } from '@berth/oci';
import type { Store, StoredImage } from '@berth/store';
import { createRootfs } from './copy.js';
import { imageChainId, type SnapshotProgress, type Snapshots } from './snapshots.js';

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
  /** The snapshot copied from. */
  snapshot: string;
  /** Whether the snapshot was built by this call. */
  created: boolean;
  method: 'reflink' | 'copy';
  files: number;
}

export async function unpackImage(opts: UnpackImageOptions): Promise<UnpackImageResult> {
  const dest = resolve(opts.dest);
  const doing = `unpack into ${dest}`;
  // Refuse early: no point building a snapshot for a destination we will not fill.
  checkDest(dest, doing);
  if (resolve(opts.store.root) !== resolve(opts.snapshots.store.root)) {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: the snapshots read layers from store ${opts.snapshots.store.root}, not ${opts.store.root}`);
  }
  const chain = imageChainId(opts.image);
  // ensure, then copy under a shared lock so gc cannot remove the snapshot mid-copy;
  // if gc removed it between the two, build it again (bounded).
  for (let attempt = 0; attempt < 3; attempt++) {
    const ensured = await opts.snapshots.ensure({ image: opts.image, onProgress: opts.onProgress });
    const lock = await opts.snapshots.lock(chain, 'shared');
    if (!lock) continue;
    try {
      if (!(await opts.snapshots.has(chain))) continue;
      const copied = await createRootfs({ snapshot: ensured.path, dest, log: opts.log });
      return { chainId: chain, snapshot: ensured.path, created: ensured.created, ...copied };
    } finally {
      lock.release();
    }
  }
  throw new BerthError('EROOTFS', `${doing}: snapshot ${chain} kept disappearing (concurrent gc?)`);
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
