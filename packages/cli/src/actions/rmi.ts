import { join } from 'node:path';
import { BerthError, Digest, Reference } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { readdirOrEmpty, usedImages } from '../containers.js';

/** The build cache (`$BERTH_ROOT/buildcache`): @berth/builder loads only when the directory has entries. */
export async function buildCache(ctx: CommandContext) {
  const { BuildCache } = await import('@berth/builder');
  return new BuildCache(join(ctx.loc.root, 'buildcache'));
}

/** The layer digests the build cache entries name: gc keeps them (`berth builder prune` drops the entries). */
async function cachedLayers(ctx: CommandContext): Promise<string[]> {
  if (readdirOrEmpty(join(ctx.loc.root, 'buildcache')).every((n) => !n.endsWith('.json'))) return [];
  return (await (await buildCache(ctx)).entries()).flatMap((e) => (e.layer ? [e.layer.digest] : []));
}

/**
 * Remove what no tag, no container and no build cache entry uses: store blobs,
 * then snapshots whose chain ID no remaining image has. Shared by `rmi`, the
 * prunes and `builder prune`.
 */
export async function collectGarbage(ctx: CommandContext): Promise<{ blobs: string[]; bytes: number; snapshots: string[] }> {
  const store = await ctx.store();
  const inUse = await usedImages(ctx);
  const { removed, bytes } = await store.gc({ roots: inUse.map((u) => u.digest), keep: await cachedLayers(ctx) });
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

/**
 * `berth rmi [-f] REF…`: untag, then delete what is no longer referenced. As docker: a
 * name removes that reference, and is refused (without -f) only when it is the image's
 * last reference and a container uses the image; removing a repository's last tag also
 * removes that repository's digest references (`alpine@sha256:…`) to the image. A digest
 * or ID removes every reference of the image, refused when a container uses it.
 */
export async function rmi(ctx: CommandContext, refs: string[], opts: { force?: boolean }): Promise<number> {
  const store = await ctx.store();
  const inUse = await usedImages(ctx);
  for (const ref of refs) {
    const image = await store.getImage(ref);
    const digest = image.descriptor.digest;
    const named = Reference.tryParse(ref);
    const byName = named !== undefined && !Digest.isValid(ref) && !/^[a-f0-9]{1,64}$/.test(ref);
    const ofImage = (await store.listTags()).filter((t) => t.descriptor.digest === digest);
    let tags = byName ? ofImage.filter((t) => t.reference.equals(named)) : ofImage;
    if (byName && !named.digest && !ofImage.some((t) => !t.reference.digest && t.reference.name === named.name && !t.reference.equals(named))) {
      tags = [...tags, ...ofImage.filter((t) => t.reference.digest && t.reference.name === named.name)];
    }
    const users = inUse.filter((u) => u.digest === digest);
    if (users.length > 0 && ofImage.length <= 1 && !opts.force) {
      throw new BerthError('EIN_USE', `remove ${ref}: image is in use by container ${users[0]?.id.slice(0, 12)} (use -f to untag anyway)`);
    }
    for (const t of tags) {
      await store.removeTag(t.reference);
      ctx.stdout.write(`Untagged: ${t.reference.familiar()}\n`);
    }
  }
  const { blobs } = await collectGarbage(ctx);
  for (const d of blobs) ctx.stdout.write(`Deleted: ${d}\n`);
  return 0;
}

/** Untag every image no container uses (`image prune -a`, `system prune -a`); the familiar names untagged. */
export async function untagUnused(ctx: CommandContext): Promise<string[]> {
  const store = await ctx.store();
  const inUse = new Set((await usedImages(ctx)).map((u) => u.digest));
  const untagged: string[] = [];
  for (const t of await store.listTags()) {
    if (inUse.has(t.descriptor.digest)) continue;
    await store.removeTag(t.reference);
    untagged.push(t.reference.familiar());
  }
  return untagged;
}
