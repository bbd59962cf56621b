import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import tar from 'tar-stream';
import { BerthError, Digest, MediaType, Reference, encodeJson, type Descriptor, type Platform } from '@berth/oci';
import type { Store, StoredImage } from '@berth/store';

/** The annotation containerd and Docker 25+ use for the full image name in an archive's index.json. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface SaveImagesOptions {
  store: Store;
  /** Tags or digest references of images in the store (strings as `berth save` gets them). */
  references: ReadonlyArray<Reference | string>;
  /** A file path (written to a temp file and renamed) or a stream (e.g. stdout). */
  output: string | Writable;
  /** Platform to pick when a reference names a multi-platform index; default the host's. */
  platform?: Platform;
}

export interface SaveImagesResult {
  images: Array<{ reference?: Reference; digest: Digest }>;
  /** Bytes of blob content written (not counting tar headers). */
  bytes: number;
}

/**
 * Write images as ONE tar that is both a Docker archive and an OCI image
 * layout, sharing blobs, the way Docker 25+ `docker save` does:
 *
 * - `oci-layout`, `index.json` (one entry per tag, annotated with the full name
 *   in `org.opencontainers.image.ref.name` and `io.containerd.image.name`) and
 *   `blobs/sha256/<hex>` for manifests, configs and layers: `skopeo copy
 *   oci-archive:FILE`, `umoci` (after extraction) and `docker load` read this;
 * - `manifest.json` (`[{Config, RepoTags, Layers}]` with paths into `blobs/`)
 *   for `docker load` and `skopeo copy docker-archive:FILE`. Docker accepts
 *   gzip-compressed and plain layers there (zstd layers need Docker 25+ with
 *   the containerd store).
 *
 * Metadata comes first so a streaming reader sees manifests before blobs.
 * Headers are deterministic (mtime 0, uid/gid 0, sorted blobs): saving the
 * same images twice produces the same bytes.
 */
export async function saveImages(opts: SaveImagesOptions): Promise<SaveImagesResult> {
  const { store } = opts;
  if (opts.references.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'save: no images given');
  const images: Array<{ reference?: Reference; image: StoredImage; label: string }> = [];
  for (const r of opts.references) {
    const label = r.toString();
    const image = await store.getImage(r, opts.platform ? { platform: opts.platform } : {}).catch((err: unknown) => {
      throw BerthError.wrap(`save ${label}`, err, 'EIMAGE_UNKNOWN');
    });
    const entry: { reference?: Reference; image: StoredImage; label: string } = { image, label };
    const ref = image.reference ?? (typeof r === 'string' ? Reference.tryParse(r) : r);
    if (ref && ref.tag !== undefined && !ref.digest) entry.reference = ref;
    images.push(entry);
  }

  // Blobs to write, deduplicated: digest → descriptor.
  const blobs = new Map<string, Descriptor>();
  const indexEntries: Descriptor[] = [];
  const dockerEntries = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const { image, reference, label } of images) {
    const m = image.descriptor;
    blobs.set(m.digest, m);
    blobs.set(image.configDescriptor.digest, image.configDescriptor);
    for (const l of image.manifest.layers) {
      if (!(await store.has(l.digest))) {
        throw new BerthError('ENOT_FOUND', `save ${label}: layer ${l.digest} is not in the store (non-distributable layers cannot be saved)`);
      }
      blobs.set(l.digest, l);
    }
    const platform: Platform = { os: image.config.os, architecture: image.config.architecture };
    if (image.config.variant) platform.variant = image.config.variant;
    const annotations: Record<string, string> = {};
    if (reference) {
      annotations[REF_NAME_ANNOTATION] = reference.toString();
      annotations[CONTAINERD_NAME_ANNOTATION] = reference.toString();
    }
    const entry: Descriptor = { mediaType: m.mediaType || MediaType.OciManifest, digest: m.digest, size: m.size, platform };
    if (Object.keys(annotations).length) entry.annotations = annotations;
    indexEntries.push(entry);

    const docker = dockerEntries.get(m.digest) ?? {
      Config: blobPath(image.configDescriptor.digest),
      RepoTags: [],
      Layers: image.manifest.layers.map((l) => blobPath(l.digest)),
    };
    if (reference && !docker.RepoTags.includes(reference.familiar())) docker.RepoTags.push(reference.familiar());
    dockerEntries.set(m.digest, docker);
  }

  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: indexEntries };
  const pack = tar.pack();
  const meta: Array<[string, Buffer]> = [
    ['oci-layout', encodeJson({ imageLayoutVersion: '1.0.0' })],
    ['index.json', encodeJson(index)],
    ['manifest.json', encodeJson([...dockerEntries.values()])],
  ];

  let bytes = 0;
  const produce = async (): Promise<void> => {
    for (const [name, data] of meta) await addBuffer(pack, name, data);
    pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
    pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
    for (const d of [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))) {
      const digest = Digest.parse(d.digest);
      if (digest.algorithm !== 'sha256') throw new BerthError('EUNSUPPORTED', `save: ${d.digest}: only sha256 blobs can be saved`);
      const size = (await store.size(digest)) ?? d.size;
      const entry = pack.entry({ name: blobPath(d.digest), size, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0 });
      await pipeline(store.openBlob(digest, { size }), entry);
      bytes += size;
    }
    pack.finalize();
  };

  if (typeof opts.output === 'string') {
    const target = path.resolve(opts.output);
    const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await Promise.all([produce().catch((err: unknown) => pack.destroy(err as Error)), pipeline(pack, createWriteStream(tmp, { mode: 0o644 }))]);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw BerthError.wrap(`save to ${opts.output}`, err, 'ESTORE');
    }
  } else {
    const out = opts.output;
    try {
      await Promise.all([produce().catch((err: unknown) => pack.destroy(err as Error)), pipeline(pack, out, { end: out !== process.stdout })]);
    } catch (err) {
      throw BerthError.wrap('save', err, 'ESTORE');
    }
  }
  return { images: images.map((i) => ({ ...(i.reference ? { reference: i.reference } : {}), digest: Digest.parse(i.image.descriptor.digest) })), bytes };
}

const EPOCH = new Date(0);

function blobPath(digest: string): string {
  const d = Digest.parse(digest);
  return `blobs/${d.algorithm}/${d.hex}`;
}

function addBuffer(pack: tar.Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0 }, data, (err) => (err ? reject(err) : resolve()));
  });
}
