import { readFile } from 'node:fs/promises';
import { BerthError, MediaType, Reference, parseIndex, validateDescriptor } from '@berth/oci';
import type { Descriptor, Index } from '@berth/oci';
import type { BlobStore } from './blobs.js';
import { toReference } from './check.js';
import { exists, writeFileAtomic, wrapError } from './fsutil.js';
import type { StoreLayout } from './layout.js';
import type { StoreLocks } from './locks.js';
import { PRIVATE_FILE_MODE } from './perms.js';

/** Defined by @berth/oci (the name of an index.json entry; berth stores the full reference; copyImage's sinks write the index digest); re-exported here, where tags are read. */
import { REF_NAME_ANNOTATION } from '@berth/oci';
export { INDEX_DIGEST_ANNOTATION, REF_NAME_ANNOTATION } from '@berth/oci';
/** `index.json` of the store itself may list many tags; bounded all the same. */
const MAX_INDEX_JSON_BYTES = 64 * 1024 * 1024;

export interface TagEntry {
  reference: Reference;
  descriptor: Descriptor;
}

/**
 * The references of a store: the entries of its `index.json`, one per tag, named
 * by the full reference in `org.opencontainers.image.ref.name`. Every change
 * rewrites the file atomically under the `index` lock.
 */
export class RefStore {
  constructor(
    private readonly layout: StoreLayout,
    private readonly blobs: BlobStore,
    private readonly locks: StoreLocks,
  ) {}

  /** Write an empty index.json unless there is one. */
  async init(): Promise<void> {
    if (await exists(this.layout.indexJson)) return;
    await this.locks.withIndexLock(async () => {
      if (!(await exists(this.layout.indexJson))) await this.write({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    });
  }

  /** The descriptor tagged with exactly this (full) reference, if any. */
  async get(ref: Reference | string): Promise<Descriptor | undefined> {
    const r = toReference(ref, 'resolve');
    const name = r.toString();
    const entry = (await this.entries()).find((m) => m.annotations?.[REF_NAME_ANNOTATION] === name);
    return entry ? { ...entry } : undefined;
  }

  /**
   * Point `ref` at `descriptor` (normally a platform manifest; an index is
   * allowed). The blob must already be stored. Replaces an existing entry of
   * the same name in place; index.json is rewritten atomically under the lock.
   */
  async set(ref: Reference | string, descriptor: Descriptor): Promise<void> {
    const r = toReference(ref, 'tag');
    const name = r.toString();
    const what = `tag ${name}`;
    const issue = validateDescriptor(descriptor);
    if (issue) throw new BerthError('EINVAL_ARGUMENT', `${what}: invalid descriptor: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    const desc: Descriptor = { ...descriptor };
    const have = await this.blobs.size(desc.digest);
    if (have === undefined) throw new BerthError('ENOT_FOUND', `${what}: ${desc.digest} is not in the store`);
    if (have !== desc.size) throw new BerthError('ESIZE_MISMATCH', `${what}: descriptor says ${desc.size} bytes, stored blob ${desc.digest} has ${have}`);
    const entry: Descriptor = { ...desc, annotations: { ...desc.annotations, [REF_NAME_ANNOTATION]: name } };
    try {
      await this.locks.withIndexLock(async () => {
        const index = await this.read();
        // Replace in place (first entry of that name; drop duplicates), else append.
        const manifests: Descriptor[] = [];
        let placed = false;
        for (const m of index.manifests) {
          if (m.annotations?.[REF_NAME_ANNOTATION] !== name) manifests.push(m);
          else if (!placed) {
            manifests.push(entry);
            placed = true;
          }
        }
        if (!placed) manifests.push(entry);
        await this.write({ ...index, manifests });
      });
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  /** Remove the entry named `ref`; false if there was none. */
  async remove(ref: Reference | string): Promise<boolean> {
    const r = toReference(ref, 'untag');
    const name = r.toString();
    try {
      return await this.locks.withIndexLock(async () => {
        const index = await this.read();
        const manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== name);
        if (manifests.length === index.manifests.length) return false;
        await this.write({ ...index, manifests });
        return true;
      });
    } catch (err) {
      throw wrapError(`untag ${name}`, err);
    }
  }

  /**
   * Every tag, in index.json order. Entries whose name is not a full,
   * normalised reference (e.g. a bare `latest` written by another tool) are
   * left out here but kept in the file and treated as GC roots.
   */
  async list(): Promise<TagEntry[]> {
    const out: TagEntry[] = [];
    for (const m of await this.entries()) {
      const name = m.annotations?.[REF_NAME_ANNOTATION];
      if (name === undefined) continue;
      const reference = Reference.tryParse(name);
      if (!reference || reference.toString() !== name) continue;
      out.push({ reference, descriptor: { ...m } });
    }
    return out;
  }

  /** Every entry of index.json as it is, named or not, in order: the GC roots and image-ID candidates. */
  async entries(): Promise<Descriptor[]> {
    return (await this.read()).manifests;
  }

  private async read(): Promise<Index> {
    const p = this.layout.indexJson;
    const what = `read ${p}`;
    let bytes: Buffer;
    try {
      bytes = await readFile(p);
    } catch (err) {
      throw wrapError(what, err);
    }
    try {
      return parseIndex(bytes, what, { maxBytes: MAX_INDEX_JSON_BYTES, code: 'ESTORE' });
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  private async write(index: Index): Promise<void> {
    await writeFileAtomic(this.layout.indexJson, Buffer.from(`${JSON.stringify(index, null, 2)}\n`), this.layout.tmpDir, PRIVATE_FILE_MODE);
  }
}
