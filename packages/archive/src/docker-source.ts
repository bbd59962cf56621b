import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import {
  BerthError,
  Digest,
  MAX_CONFIG_BYTES,
  MediaType,
  Reference,
  detectLayerCompression,
  encodeJson,
  ociLayerMediaType,
  parseImageConfig,
  parseJson,
  type Descriptor,
  type LayerCompression,
  type ResolvedManifest,
} from '@berth/oci';
import { z } from 'zod';
import type { ArchiveFiles } from './files.js';
import { ENTRY, MAX_META_BYTES, pour, type ArchiveImage, type ArchiveSource } from './source.js';

const DockerManifestSchema = z.array(
  z.looseObject({
    Config: z.string().min(1),
    RepoTags: z.array(z.string()).nullable().optional(),
    Layers: z.array(z.string()),
  }),
);

/** sha256 of a file of the archive, gunzipped first for 'gzip'. */
async function hashFile(files: ArchiveFiles, file: string, compression: LayerCompression): Promise<Digest> {
  const h = createHash('sha256');
  const hash = async (src: AsyncIterable<Buffer>): Promise<void> => {
    for await (const c of src) h.update(c);
  };
  const src = await files.open(file);
  if (compression === 'gzip') await pipeline(src, zlib.createGunzip(), hash);
  else await pipeline(src, hash);
  return Digest.parse(`sha256:${h.digest('hex')}`);
}

async function head(files: ArchiveFiles, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await files.open(file)) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n >= 8) break;
  }
  return Buffer.concat(chunks).subarray(0, 8);
}

/**
 * A Docker archive (`docker save`, `skopeo copy … docker-archive:`) as an ArchiveSource: each
 * `manifest.json` entry becomes an OCI manifest whose layers keep their bytes (`tar` or
 * `tar+gzip`, found by path, following the links of legacy archives). Each layer is hashed
 * uncompressed and must match the config's `diff_ids`; a layer named `blobs/<alg>/<hex>` is
 * taken by that digest (the sink verifies it), any other is hashed.
 */
export function dockerSource(files: ArchiveFiles, name = `docker-archive ${files.label}`): ArchiveSource {
  /** digest → where its bytes are: a file of the archive, or bytes made here (configs read, manifests made). */
  const blobs = new Map<string, { file?: string; bytes?: Buffer }>();
  const made = new Map<string, ResolvedManifest>();
  let listed: Promise<ArchiveImage[]> | undefined;
  const list = async (): Promise<ArchiveImage[]> => {
    const entries = parseJson(await files.read('manifest.json', MAX_META_BYTES), DockerManifestSchema, { what: 'manifest.json', code: 'EINVAL_MANIFEST' });
    if (entries.length === 0) throw new BerthError('EINVAL_MANIFEST', 'manifest.json lists no images');
    const out: ArchiveImage[] = [];
    for (const [i, e] of entries.entries()) {
      const what = `manifest.json[${i}]`;
      const configBytes = await files.read(e.Config, MAX_CONFIG_BYTES);
      const config = parseImageConfig(configBytes, `${what} config ${e.Config}`);
      const configDigest = Digest.of(configBytes, 'sha256');
      blobs.set(configDigest.toString(), { bytes: configBytes });
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== e.Layers.length) {
        throw new BerthError('EINVAL_MANIFEST', `${what}: ${e.Layers.length} layers but the config lists ${diffIds.length} diff_ids`);
      }
      const layers: Descriptor[] = [];
      for (const [j, p] of e.Layers.entries()) {
        const size = await files.size(p);
        if (size === undefined) throw new BerthError('ENOT_FOUND', `${what}.Layers[${j}]: ${JSON.stringify(p)} is not in the archive`);
        const compression = detectLayerCompression(await head(files, p));
        if (compression === 'zstd') throw new BerthError('EUNSUPPORTED', `${what}.Layers[${j}] ${p}: zstd-compressed layers in Docker archives are not supported`);
        const named = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(p);
        const digest = named && Digest.isValid(`${named[1]}:${named[2]}`) ? Digest.parse(`${named[1]}:${named[2]}`) : await hashFile(files, p, 'none');
        const diffId = compression === 'none' ? digest : await hashFile(files, p, compression);
        if (!diffId.equals(diffIds[j] as string)) {
          throw new BerthError('EDIGEST_MISMATCH', `${what}.Layers[${j}] ${p}: uncompressed content is ${diffId}, the config's diff_id is ${diffIds[j]}`);
        }
        blobs.set(digest.toString(), { file: p });
        layers.push({ mediaType: ociLayerMediaType(compression), digest: digest.toString(), size });
      }
      const bytes = encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configDigest.toString(), size: configBytes.length },
        layers,
      });
      const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: Digest.of(bytes, 'sha256').toString(), size: bytes.length };
      made.set(descriptor.digest, { descriptor, bytes });
      out.push({ reference: ENTRY.withDigest(descriptor.digest), descriptor, names: e.RepoTags ?? [] });
    }
    return out;
  };
  const images = (): Promise<ArchiveImage[]> => (listed ??= list());
  const manifestOf = async (ref: Reference): Promise<ResolvedManifest> => {
    const all = await images();
    const found = ref.digest ? made.get(ref.digest.toString()) : made.get(all.find((i) => i.names.some((n) => Reference.tryParse(n)?.toString() === ref.toString()))?.descriptor.digest ?? '');
    if (!found) throw new BerthError('EIMAGE_UNKNOWN', `${name}: no image named ${ref}`);
    return found;
  };
  const blobStream = async (d: Descriptor, start: number): Promise<Readable> => {
    await images();
    const b = blobs.get(d.digest);
    if (b?.bytes) return Readable.from([b.bytes.subarray(start)]);
    if (b?.file) return files.open(b.file, start);
    throw new BerthError('ENOT_FOUND', `${name}: blob ${d.digest} is not in the archive`);
  };
  return {
    name,
    format: 'docker',
    images,
    resolve: (ref) => manifestOf(ref),
    manifest: (ref) => manifestOf(ref),
    fetchBlob: async (_ref, d, target, opts = {}) => pour(await blobStream(d, target.offset), target, target.offset, opts),
    openBlob: async (_ref, d, opts = {}) => blobStream(d, opts.start ?? 0),
    locate: (d) => {
      const file = blobs.get(d.digest)?.file;
      return file === undefined ? undefined : `blob ${file}`;
    },
  };
}
