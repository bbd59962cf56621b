import type { Writable } from 'node:stream';
import { BerthError, Digest, Reference, type Descriptor, type Platform } from '@berth/oci';
import { copyImage, storeSource, type ContentStore } from '@berth/image';
import { layoutSink } from './layout.js';
import { archiveSink, type ArchiveFormat } from './sink.js';

export { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION } from '@berth/oci';

/** How a store finds an image by tag, digest or short ID (`@berth/store`'s `Store.getImage`, structurally). */
export interface ImageFinder {
  getImage(ref: Reference | string, opts?: { platform?: Platform }): Promise<{ reference?: Reference; descriptor: Descriptor }>;
}

export interface SaveImagesOptions {
  /** The store; `getImage` finds what a name, digest or short ID means, as every command does. */
  store: ContentStore & ImageFinder;
  /** Tags, digests or short IDs of images in the store (strings as `berth save` gets them). */
  references: ReadonlyArray<Reference | string>;
  /** A file path (written to a temp file and renamed), a stream (e.g. stdout); a directory for `oci`. */
  output: string | Writable;
  /**
   * `docker-archive` (default): one tar that is both a Docker archive and an OCI layout, as
   * Docker 25+ writes it. `oci-archive`: the OCI layout alone, as a tar. `oci`: an OCI layout
   * directory (created, or added to).
   */
  format?: ArchiveFormat | 'oci';
  /** Platform to pick when a reference names a multi-platform index; default the host's. */
  platform?: Platform;
}

export interface SaveImagesResult {
  images: Array<{ reference?: Reference; digest: Digest }>;
  /** Bytes of blob content written (not counting tar headers; 0 for a layout directory). */
  bytes: number;
}

/** The repository of images saved by digest or ID alone (the sinks name them by digest only). */
const UNNAMED = Reference.parse('localhost/unnamed');

/**
 * Save images: each is `copyImage` from the store (`storeSource`) into one sink, a tar
 * (`archiveSink`: docker-archive, or oci-archive) or an OCI layout directory (`layoutSink`).
 * A tag is written as the image's name; a digest or an ID saves the image unnamed.
 */
export async function saveImages(opts: SaveImagesOptions): Promise<SaveImagesResult> {
  const { store } = opts;
  if (opts.references.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'save: no images given');
  const format = opts.format ?? 'docker-archive';
  if (format === 'oci' && typeof opts.output !== 'string') throw new BerthError('EINVAL_ARGUMENT', 'save: an OCI layout is a directory: give its path');
  const tarSink = format === 'oci' ? undefined : archiveSink({ format, output: opts.output });
  const sink = tarSink ?? layoutSink(opts.output as string);
  // One lease over the whole save: the archive is written at close, from the store's blobs.
  return store.withLease(async () => {
  const images: SaveImagesResult['images'] = [];
  for (const r of opts.references) {
    const label = r.toString();
    const image = await store.getImage(r, opts.platform ? { platform: opts.platform } : {}).catch((err: unknown) => {
      throw BerthError.wrap(`save ${label}`, err, 'EIMAGE_UNKNOWN');
    });
    // The name it was found by; none when found by digest or ID (`sha256:…` is not `docker.io/library/sha256`).
    const named = image.reference ?? (typeof r === 'string' ? undefined : r);
    const tagged = named && named.tag !== undefined && !named.digest ? named : undefined;
    const byDigest = Reference.parse(`${(named ?? UNNAMED).name}@${image.descriptor.digest}`);
    await copyImage(storeSource(store), sink, {
      reference: byDigest,
      destination: tagged ?? byDigest,
      concurrency: 1,
      doing: `save ${label}`,
      errorCode: 'ESTORE',
      ...(opts.platform ? { platform: opts.platform } : {}),
    });
    images.push({ ...(tagged ? { reference: tagged } : {}), digest: Digest.parse(image.descriptor.digest) });
  }
  let bytes = 0;
  if (tarSink) {
    try {
      ({ bytes } = await tarSink.close());
    } catch (err) {
      throw BerthError.wrap(`save to ${typeof opts.output === 'string' ? opts.output : 'stream'}`, err, 'ESTORE');
    }
  }
  return { images, bytes };
  });
}
