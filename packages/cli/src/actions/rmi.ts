import { BerthError, Digest, Reference } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { usedImages } from '../containers.js';
import { humanSize, parseFormat } from '../output.js';

/**
 * Remove what no tag and no container uses: store blobs, then snapshots whose
 * chain ID no remaining image has. Shared by `rmi` and `image prune`.
 */
export async function collectGarbage(ctx: CommandContext): Promise<{ blobs: string[]; bytes: number; snapshots: string[] }> {
  const store = await ctx.store();
  const inUse = await usedImages(ctx);
  const { removed, bytes } = await store.gc({ roots: inUse.map((u) => u.digest) });
  const { Snapshots, imageChainId } = await import('@berth/rootfs');
  const snapshots = new Snapshots({ root: ctx.snapshotsDir, store });
  const keep: Digest[] = [];
  const manifests = new Set<string>([...(await store.listTags()).map((t) => t.descriptor.digest), ...inUse.map((u) => u.digest)]);
  for (const digest of manifests) {
    const image = await store.getImage(digest).catch(() => undefined);
    if (image) keep.push(imageChainId(image));
  }
  const gone = await snapshots.gc({ keep });
  return { blobs: removed, bytes, snapshots: gone.removed };
}

/** `berth rmi [-f] REF…`: untag, then delete what is no longer referenced. */
export async function rmi(ctx: CommandContext, refs: string[], opts: { force?: boolean }): Promise<number> {
  const store = await ctx.store();
  const inUse = await usedImages(ctx);
  for (const ref of refs) {
    const image = await store.getImage(ref);
    const users = inUse.filter((u) => u.digest === image.descriptor.digest);
    if (users.length > 0 && !opts.force) {
      throw new BerthError('EIN_USE', `remove ${ref}: image is in use by container ${users[0]?.id.slice(0, 12)} (use -f to untag anyway)`);
    }
    // A name removes that tag; a digest or ID removes every tag of that image.
    const named = Reference.tryParse(ref);
    const tags = (await store.listTags()).filter((t) =>
      named && !Digest.isValid(ref) && !/^[a-f0-9]{1,64}$/.test(ref) ? t.reference.equals(named) : t.descriptor.digest === image.descriptor.digest,
    );
    for (const t of tags) {
      await store.removeTag(t.reference);
      ctx.stdout.write(`Untagged: ${t.reference.familiar()}\n`);
    }
  }
  const { blobs } = await collectGarbage(ctx);
  for (const d of blobs) ctx.stdout.write(`Deleted: ${d}\n`);
  return 0;
}

/** `berth image prune`: delete unreferenced blobs and snapshots. */
export async function prune(ctx: CommandContext, opts: { format?: string }): Promise<number> {
  const { blobs, bytes, snapshots } = await collectGarbage(ctx);
  if (parseFormat(opts.format) === 'json') {
    ctx.stdout.write(`${JSON.stringify({ deletedBlobs: blobs, deletedSnapshots: snapshots, reclaimedBytes: bytes })}\n`);
  } else {
    for (const d of blobs) ctx.stdout.write(`deleted: ${d}\n`);
    for (const s of snapshots) ctx.stdout.write(`deleted snapshot: ${s}\n`);
    ctx.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  }
  return 0;
}
