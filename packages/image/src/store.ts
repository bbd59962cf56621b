import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BerthError,
  Digest,
  detectMediaType,
  isImageMediaType,
  type BlobTarget,
  type Descriptor,
  type ImageConfig,
  type ImageSink,
  type ImageSource,
  type Index,
  type Manifest,
  type Reference,
  type ResolvedManifest,
} from '@berth/oci';

/** A store ingest: a resumable, verified write of one blob (`@berth/store`'s `BlobIngest`). */
export interface StoreIngest extends BlobTarget {
  /** The blob was already in the store when the lock was taken: call `release()`. */
  readonly exists: boolean;
  /** Verify digest and size, then make the blob visible. */
  commit(): Promise<unknown>;
  /** Give up; `keepPartial` keeps the bytes for a later resume. */
  abort(opts?: { keepPartial?: boolean }): Promise<void>;
  release(): Promise<void>;
}

/**
 * What the store source and sink (and `pullImage`/`pushImage`) need of a content store.
 * `@berth/store`'s `Store` has all of it, structurally: nothing here imports the store, so the
 * registry client can use these adapters without depending on it.
 */
export interface ContentStore {
  withLease<T>(fn: () => Promise<T>): Promise<T>;
  has(digest: Digest | string): Promise<boolean>;
  size(digest: Digest | string): Promise<number | undefined>;
  /** A verified stream of a blob from `start` on (the bytes before it hashed, not sent). */
  openBlob(digest: Digest | string, opts?: { size?: number; start?: number }): Readable;
  readBlob(digest: Digest | string, opts?: { size?: number }): Promise<Buffer>;
  putBlob(data: Uint8Array, opts: { digest: Digest; size: number }): Promise<unknown>;
  ingest(opts: { digest: Digest; size: number }): Promise<StoreIngest>;
  resolve(ref: Reference): Promise<Descriptor | undefined>;
  setTag(ref: Reference, descriptor: Descriptor): Promise<void>;
  readManifest(d: Descriptor): Promise<Manifest>;
  readIndex(d: Descriptor): Promise<Index>;
  readConfig(d: Descriptor): Promise<ImageConfig>;
}

/**
 * The store as an ImageSink: the copy runs in a store lease; a blob goes through a resumable
 * ingest (a partial one from an interrupted copy is resumed from its offset; the commit
 * verifies digest and size); the manifest is stored after its blobs; the tag is set last.
 */
export function storeSink(store: ContentStore): ImageSink {
  return {
    name: 'store',
    withLease: (fn) => store.withLease(fn),
    hasBlob: async (d) => (await store.size(d.digest)) === d.size,
    readBlob: (d) => store.readBlob(d.digest, { size: d.size }),
    async writeBlob({ descriptor: d, source, sourceRef, signal, onProgress, onRetry }) {
      const ingest = await store.ingest({ digest: Digest.parse(d.digest), size: d.size });
      if (ingest.exists) {
        await ingest.release();
        return { status: 'exists' };
      }
      try {
        await source.fetchBlob(sourceRef, d, ingest, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}), ...(onRetry ? { onRetry } : {}) });
        await ingest.commit();
      } catch (err) {
        // Keep what arrived for a later resume, unless the content itself was wrong.
        const bad = err instanceof BerthError && (err.code === 'EDIGEST_MISMATCH' || err.code === 'ESIZE_MISMATCH');
        await ingest.abort({ keepPartial: !bad }).catch(() => undefined);
        throw err;
      }
      return { status: 'written' };
    },
    async writeManifest(_ref, m) {
      await store.putBlob(m.bytes, { digest: Digest.parse(m.descriptor.digest), size: m.bytes.length });
    },
    tag: (ref, d) => store.setTag(ref, d),
  };
}

/** The descriptor of a stored image: its tag, else a manifest or index blob named by digest. */
export async function describeStored(store: ContentStore, ref: Reference): Promise<Descriptor | undefined> {
  const tagged = ref.tag !== undefined || !ref.digest ? await store.resolve(ref) : undefined;
  if (tagged) {
    if (ref.digest && !ref.digest.equals(tagged.digest)) {
      throw new BerthError('EIMAGE_UNKNOWN', `${ref} is tagged as ${tagged.digest}`);
    }
    return tagged;
  }
  if (ref.digest) {
    const size = await store.size(ref.digest);
    if (size !== undefined) {
      const bytes = await store.readBlob(ref.digest, { size });
      const mediaType = detectMediaType(bytes);
      if (mediaType && isImageMediaType(mediaType)) return { mediaType, digest: ref.digest.toString(), size };
    }
  }
  return undefined;
}

/** The store as an ImageSource: tags and digests resolve as `berth push` finds them; blobs are read verified. */
export function storeSource(store: ContentStore): ImageSource {
  // The bytes' own descriptor: a tag's platform and annotations belong to that tag, not to the copy.
  const manifestOf = async (d: Descriptor): Promise<ResolvedManifest> => ({
    descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size },
    bytes: await store.readBlob(d.digest, { size: d.size }),
  });
  return {
    name: 'store',
    async resolve(ref) {
      const d = await describeStored(store, ref);
      if (!d) throw new BerthError('EIMAGE_UNKNOWN', `no such image in the store: ${ref}`);
      return manifestOf(d);
    },
    async manifest(_ref, d) {
      if (!(await store.has(d.digest))) throw new BerthError('EIMAGE_UNKNOWN', `manifest ${d.digest} is not in the store`);
      return manifestOf(d);
    },
    async fetchBlob(_ref, d, target, opts = {}) {
      const from = target.offset;
      const stream = store.openBlob(d.digest, { size: d.size, start: from });
      const out = target.createWriteStream();
      let current = from;
      stream.on('data', (c: Buffer) => {
        current += c.length;
        opts.onProgress?.(current);
      });
      await pipeline(stream, out, opts.signal ? { signal: opts.signal } : {});
    },
    openBlob: async (_ref, d, opts = {}) => store.openBlob(d.digest, { size: d.size, start: opts.start ?? 0 }),
  };
}
