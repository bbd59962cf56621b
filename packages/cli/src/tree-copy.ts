/**
 * A tree as an archive and an archive into a directory: @berth/layers' createLayer in archive mode
 * (the writer `export` and `commit` use) and applyLayer without whiteouts (contained: every entry
 * resolved inside the directory it is extracted into). `berth cp` and the seeding of a new volume
 * from the image both go through here.
 */
import { PassThrough, type Readable } from 'node:stream';

const TAR = 'application/vnd.oci.image.layer.v1.tar';

/** The archive of `target` (its final component not followed) as `rootName`, on a stream. */
export async function archiveTree(target: string, rootName: string): Promise<{ stream: PassThrough; done: Promise<unknown> }> {
  const { createLayer } = await import('@berth/layers');
  const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  const done = createLayer({ target, rootName, output: stream, compression: 'none' });
  done.catch((err: unknown) => stream.destroy(err as Error));
  return { stream, done };
}

export interface ExtractOptions {
  source: Readable;
  /** An existing directory: nothing is written outside it. */
  dir: string;
  /** Rename the archive's first component (docker's RebaseArchiveEntries). */
  rebase?: { from: string; to: string };
  /** Every entry owned by this uid/gid; default: the archive's own (as root). */
  owner?: { uid: number; gid: number };
}

/** Extract an uncompressed tar into `dir`, `.wh.` names as plain files. */
export async function extractTree(opts: ExtractOptions): Promise<void> {
  const { applyLayer } = await import('@berth/layers');
  await applyLayer({
    root: opts.dir,
    source: opts.source,
    mediaType: TAR,
    name: 'archive',
    whiteouts: false,
    ...(opts.rebase ? { rebase: opts.rebase } : {}),
    ...(opts.owner ? { owner: opts.owner } : { preserveOwnership: true }),
  });
}

/** Archive `target` as `rootName` and extract it into `dir` at once (the two ends of one pipe). */
export async function copyTree(opts: { target: string; rootName: string } & Omit<ExtractOptions, 'source'>): Promise<void> {
  const { stream, done } = await archiveTree(opts.target, opts.rootName);
  try {
    await Promise.all([extractTree({ ...opts, source: stream }), done]);
  } catch (err) {
    stream.destroy();
    await done.catch(() => undefined);
    throw err;
  }
}
