import { Digest, isIndexMediaType, isManifestMediaType } from '@berth/oci';
import type { BlobStore } from './blobs.js';
import { toDigest } from './check.js';
import { wrapError } from './fsutil.js';
import type { StoreLocks } from './locks.js';
import { readIndex, readManifest, sniff } from './manifests.js';
import { INDEX_DIGEST_ANNOTATION, type RefStore } from './refs.js';

export interface GcOptions {
  /** Extra roots besides the tags, e.g. the manifest digests of images used by containers. */
  roots?: Array<Digest | string>;
  /**
   * Blobs kept as they are, not followed: e.g. the layers the build cache names
   * (a cached step's layer outlives the images built from it).
   */
  keep?: Array<Digest | string>;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
}

export interface GcResult {
  /** Digests of the blobs removed (or that would be, with dryRun). */
  removed: string[];
  /** Stale temporary and partial files removed, relative to the store root (`tmp/…`, `ingest/…`). */
  temporary: string[];
  /** Bytes freed by both. */
  bytes: number;
}

/**
 * Garbage collection of a store's blobs: mark from the refs (every index.json
 * entry) and `roots`, sweep what is unmarked, and what interrupted writes left.
 */
export class Collector {
  constructor(
    private readonly parts: { blobs: BlobStore; refs: RefStore; locks: StoreLocks },
  ) {}

  /**
   * Mark and sweep. Marks everything reachable from every index.json entry
   * and from `opts.roots` (index → manifests → config, layers, subject), the
   * index blob a tag's `io.berth.index.digest` names, and `opts.keep`, then
   * removes unmarked blobs, stale partial downloads in `ingest/` (never one
   * whose digest lock is held by a live ingest) and stale files in `tmp/`.
   * Waits until no lease (withLease, putBlob, ingest) is held, and holds the
   * index lock throughout, so nothing is written while it runs. A stored
   * manifest or index that cannot be read or is corrupt aborts the collection
   * (nothing is removed) rather than losing what it references.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const roots = (opts.roots ?? []).map((r) => toDigest(r, 'gc'));
    const keep = (opts.keep ?? []).map((r) => toDigest(r, 'gc'));
    const { locks } = this.parts;
    try {
      return await locks.exclusive('gc', () => locks.withIndexLock(() => this.collect(roots, keep, opts.dryRun === true)));
    } catch (err) {
      throw wrapError('gc', err);
    }
  }

  private async mark(roots: Digest[], keep: Digest[]): Promise<Set<string>> {
    const { blobs, refs } = this.parts;
    const marked = new Set<string>();
    const visit = async (d: { digest: string; mediaType?: string | undefined; size?: number | undefined }): Promise<void> => {
      if (marked.has(d.digest)) return;
      marked.add(d.digest);
      const digest = Digest.parse(d.digest);
      const size = await blobs.size(digest);
      if (size === undefined) return; // e.g. platforms of an index that were never pulled
      // A root given by digest has no media type: look at the content.
      const mediaType = d.mediaType ?? (await sniff(blobs, digest, size)).mediaType;
      if (isIndexMediaType(mediaType)) {
        const index = await readIndex(blobs, { digest: d.digest, size: d.size ?? size, mediaType: mediaType as string });
        for (const child of index.manifests) await visit(child);
        if (index.subject) await visit(index.subject);
      } else if (isManifestMediaType(mediaType)) {
        const manifest = await readManifest(blobs, { digest: d.digest, size: d.size ?? size, mediaType: mediaType as string });
        await visit(manifest.config);
        for (const layer of manifest.layers) await visit(layer);
        if (manifest.subject) await visit(manifest.subject);
      }
    };
    for (const entry of await refs.entries()) {
      await visit(entry);
      // The index a tag's platform manifest was chosen from, when it is stored: the blob
      // alone (its other platforms belong to whatever tags them).
      const index = entry.annotations?.[INDEX_DIGEST_ANNOTATION];
      if (index !== undefined && Digest.isValid(index)) marked.add(index);
    }
    for (const root of roots) await visit({ digest: root.toString() });
    for (const k of keep) marked.add(k.toString());
    return marked;
  }

  private async collect(roots: Digest[], keep: Digest[], dryRun: boolean): Promise<GcResult> {
    const { blobs, locks } = this.parts;
    const marked = await this.mark(roots, keep);
    const result: GcResult = { removed: [], temporary: [], bytes: 0 };
    const unmarked: Digest[] = [];
    for await (const blob of blobs.list()) {
      if (marked.has(blob.digest.toString())) continue;
      unmarked.push(blob.digest);
      result.removed.push(blob.digest.toString());
      result.bytes += blob.size;
    }
    if (!dryRun) await blobs.delete(unmarked);
    const swept = await blobs.sweepTemporary({ dryRun });
    result.temporary.push(...swept.removed);
    result.bytes += swept.bytes;
    if (!dryRun) await locks.sweepDigestLocks();
    return result;
  }
}
