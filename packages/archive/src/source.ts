/**
 * Archives as ImageSources: an OCI image layout (a directory, or an oci-archive tar of one) and
 * a Docker archive (`manifest.json`), both read through an ArchiveFiles view.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BerthError,
  CONTAINERD_NAME_ANNOTATION,
  Digest,
  MAX_MANIFEST_BYTES,
  REF_NAME_ANNOTATION,
  Reference,
  detectMediaType,
  isImageMediaType,
  isManifestMediaType,
  isUnknownPlatform,
  parseIndex,
  type BlobReadOptions,
  type BlobTarget,
  type Descriptor,
  type ImageSource,
  type Index,
  type ResolvedManifest,
} from '@berth/oci';
import type { ArchiveFiles } from './files.js';

/** One image an archive lists, as `loadImages` copies it. */
export interface ArchiveImage {
  /** How the source names it for copyImage: by digest. */
  reference: Reference;
  /** The entry: an image manifest, or an index (narrowed to one platform by the copy). */
  descriptor: Descriptor;
  /** Its names: `io.containerd.image.name`, else `org.opencontainers.image.ref.name` (OCI); `RepoTags` (Docker). */
  names: string[];
}

export interface ArchiveSource extends ImageSource {
  readonly format: 'oci' | 'docker';
  /** The images the archive lists, in its order (artifacts and attestation manifests left out). */
  images(): Promise<ArchiveImage[]>;
}

/** The name archive entries go by in copyImage (by digest; never shown, never tagged). */
export const ENTRY = Reference.parse('archive.invalid/entry');
export const MAX_META_BYTES = 8 * 1024 * 1024;

function blobName(digest: string): string {
  const d = Digest.parse(digest); // validated before it becomes a path
  return `blobs/${d.algorithm}/${d.hex}`;
}

/** `imageLayoutVersion` of an `oci-layout` file. */
function layoutVersion(bytes: Buffer): string {
  let v: unknown;
  try {
    v = (JSON.parse(bytes.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', 'oci-layout: not valid JSON', { cause: err });
  }
  if (typeof v !== 'string') throw new BerthError('EINVAL_ARGUMENT', 'oci-layout: no imageLayoutVersion');
  return v;
}

/** Bytes checked against the descriptor that named them. */
function checked(label: string, what: string, d: Descriptor, bytes: Buffer): Buffer {
  if (bytes.length !== d.size || !Digest.of(bytes, Digest.parse(d.digest).algorithm).equals(d.digest)) {
    throw new BerthError('EDIGEST_MISMATCH', `${label}: ${what} ${d.digest} does not match its descriptor`);
  }
  return bytes;
}

/** Pipe `stream` into `target`, reporting the bytes held (counting `from`). */
export async function pour(stream: Readable, target: BlobTarget, from: number, opts: BlobReadOptions): Promise<void> {
  let current = from;
  stream.on('data', (c: Buffer | string) => {
    current += c.length;
    opts.onProgress?.(current);
  });
  await pipeline(stream, target.createWriteStream(), opts.signal ? { signal: opts.signal } : {});
}

/**
 * An OCI image layout (skopeo's `oci:`/`oci-archive:`, umoci's, Docker 25+'s `docker save`) as an
 * ArchiveSource. A reference is found by its name annotation: the full reference, else its bare
 * tag (as skopeo and umoci write it), else by digest (an index entry, or any manifest blob).
 * Manifests are checked against their descriptor; blobs are read by digest, from an offset.
 */
export function ociSource(files: ArchiveFiles, name = `oci ${files.label}`): ArchiveSource {
  let index: Promise<Index> | undefined;
  const readIndexJson = (): Promise<Index> =>
    (index ??= (async () => {
      if ((await files.size('oci-layout')) !== undefined) {
        const version = layoutVersion(await files.read('oci-layout', MAX_META_BYTES));
        if (!/^1\./.test(version)) throw new BerthError('EUNSUPPORTED', `oci-layout: unsupported imageLayoutVersion ${version}`);
      }
      return parseIndex(await files.read('index.json', MAX_META_BYTES), `${files.label}/index.json`, { code: 'EINVAL_ARGUMENT' });
    })());
  const read = async (d: Descriptor): Promise<ResolvedManifest> => {
    const bytes = checked(files.label, 'blob', d, await files.read(blobName(d.digest), MAX_MANIFEST_BYTES));
    return { descriptor: { mediaType: d.mediaType || (detectMediaType(bytes) ?? ''), digest: d.digest, size: d.size }, bytes };
  };
  return {
    name,
    format: 'oci',
    async images() {
      const out: ArchiveImage[] = [];
      for (const entry of (await readIndexJson()).manifests) {
        if (!isImageMediaType(entry.mediaType)) continue; // artifacts and other entries
        if (isManifestMediaType(entry.mediaType) && entry.platform && isUnknownPlatform(entry.platform)) continue; // attestations
        const n = entry.annotations?.[CONTAINERD_NAME_ANNOTATION] ?? entry.annotations?.[REF_NAME_ANNOTATION];
        out.push({ reference: ENTRY.withDigest(entry.digest), descriptor: entry, names: n === undefined ? [] : [n] });
      }
      return out;
    },
    async resolve(ref) {
      const { manifests } = await readIndexJson();
      const named = (n: string): Descriptor | undefined => manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === n);
      let found = ref.digest ? manifests.find((m) => ref.digest?.equals(m.digest)) : (named(ref.toString()) ?? (ref.tag !== undefined ? named(ref.tag) : undefined));
      if (!found && ref.digest) {
        const size = await files.size(blobName(ref.digest.toString()));
        if (size !== undefined && size <= MAX_MANIFEST_BYTES) {
          const bytes = await files.read(blobName(ref.digest.toString()), MAX_MANIFEST_BYTES);
          found = { mediaType: detectMediaType(bytes) ?? '', digest: ref.digest.toString(), size };
        }
      }
      if (!found) throw new BerthError('EIMAGE_UNKNOWN', `${name}: no image named ${ref}`);
      return read(found);
    },
    manifest: async (_ref, d) => read(d),
    async fetchBlob(_ref, d, target, opts = {}) {
      await pour(await files.open(blobName(d.digest), target.offset), target, target.offset, opts);
    },
    openBlob: async (_ref, d, opts = {}) => files.open(blobName(d.digest), opts.start ?? 0),
    locate: (d) => `blob ${blobName(d.digest)}`,
  };
}

