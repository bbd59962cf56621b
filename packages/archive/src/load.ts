import type { Readable } from 'node:stream';
import { BerthError, Reference, type Descriptor, type Platform } from '@berth/oci';
import { copyImage, storeSink, type ContentStore } from '@berth/image';
import { openArchive } from './open.js';

export interface LoadImagesOptions {
  store: ContentStore;
  /** A docker-archive or OCI archive file (optionally gzip-compressed), an OCI layout directory, or a stream of an archive. */
  input: string | Readable;
  /**
   * Repository for OCI entries whose `ref.name` is only a tag (`3.20`, as
   * skopeo and umoci write them), e.g. `docker.io/library/alpine`. Without it
   * such images are loaded untagged.
   */
  repository?: string | Reference;
  /** Platform to keep from multi-platform indexes; default the host's. */
  platform?: Platform;
}

export interface LoadedImage {
  /** The tag it was stored under; undefined for an image loaded untagged. */
  reference?: Reference;
  /** The image manifest stored. */
  descriptor: Descriptor;
  format: 'oci' | 'docker';
  /** A bare-tag ref.name that could not be tagged without `repository`. */
  untaggedName?: string;
}

/**
 * Load images from a Docker archive, an OCI archive (a tar of an image layout, optionally
 * gzip-compressed) or an OCI image layout directory into the store: each image the archive
 * lists is `copyImage` from the archive (`openArchive`'s source) into the store (`storeSink`),
 * in one store lease, and only when every one is in are they tagged, so a bad archive leaves
 * no tag. Every blob is verified as the store takes it; Docker archive layers are also hashed
 * uncompressed against the config's `diff_ids`.
 */
export async function loadImages(opts: LoadImagesOptions): Promise<LoadedImage[]> {
  const label = typeof opts.input === 'string' ? opts.input : 'stream';
  const what = `load ${label}`;
  const repository = opts.repository === undefined ? undefined : typeof opts.repository === 'string' ? Reference.parse(opts.repository) : opts.repository;
  const sink = storeSink(opts.store);
  try {
    const { source, close } = await openArchive(opts.input);
    try {
      return await opts.store.withLease(async () => {
        const images = await source.images();
        if (images.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'index.json lists no images');
        const copied: Array<{ descriptor: Descriptor; names: string[] }> = [];
        for (const image of images) {
          const r = await copyImage(source, sink, {
            reference: image.reference,
            tag: false,
            doing: what,
            errorCode: 'ESTORE',
            ...(opts.platform ? { platform: opts.platform } : {}),
          });
          copied.push({ descriptor: r.descriptor, names: image.names });
        }
        const out: LoadedImage[] = [];
        for (const { descriptor, names } of copied) {
          if (names.length === 0) out.push({ descriptor, format: source.format });
          for (const name of names) {
            const ref = source.format === 'docker' ? Reference.parse(name) : nameToReference(name, repository);
            if (!ref) {
              out.push({ descriptor, format: source.format, untaggedName: name });
              continue;
            }
            await sink.tag(ref, descriptor);
            out.push({ reference: ref, descriptor, format: source.format });
          }
        }
        return out;
      });
    } finally {
      await close();
    }
  } catch (err) {
    if (err instanceof BerthError && err.message.startsWith(`${what}: `)) throw err;
    throw BerthError.wrap(what, err, 'ESTORE');
  }
}

/**
 * A `ref.name` with a `/`, `:` or `@` is a full reference (berth, containerd
 * and Docker write those); a bare name is a tag (skopeo, umoci) that needs
 * `repository`.
 */
function nameToReference(name: string, repository: Reference | undefined): Reference | undefined {
  if (/[/:@]/.test(name)) {
    const ref = Reference.tryParse(name);
    if (!ref) throw new BerthError('EINVAL_REFERENCE', `index.json: ref.name ${JSON.stringify(name)} is not a valid reference`);
    return ref;
  }
  return repository ? repository.withTag(name) : undefined;
}
