import { createReadStream } from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import {
  BerthError,
  Digest,
  MediaType,
  Reference,
  encodeJson,
  hostPlatform,
  isIndexMediaType,
  isManifestMediaType,
  isUnknownPlatform,
  normalisePlatform,
  formatPlatform,
  parseImageConfig,
  parseIndex,
  parseJson,
  parseManifest,
  selectPlatform,
  ociLayerMediaType,
  type Descriptor,
  type ImageConfig,
  type LayerCompression,
  type Manifest,
  type Platform,
} from '@berth/oci';
import type { Store } from '@berth/store';
import { z } from 'zod';
import { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION } from './save.js';

export interface LoadImagesOptions {
  store: Store;
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

const MAX_META_BYTES = 8 * 1024 * 1024;
const BLOB_PATH_RE = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/;

const DockerManifestSchema = z.array(
  z.looseObject({
    Config: z.string().min(1),
    RepoTags: z.array(z.string()).nullable().optional(),
    Layers: z.array(z.string()),
  }),
);

/** What the archive made available: small metadata files and blobs in the store by path. */
interface Archive {
  meta: Map<string, Buffer>;
  /** Path in the archive → stored blob digest (all non-metadata regular files). */
  files: Map<string, { digest: Digest; size: number; magic: Buffer }>;
  /** Symlinks in the archive (legacy docker archives link duplicate layers). */
  links: Map<string, string>;
  /** Makes sure a blob named by digest is in the store (directories copy on demand). */
  ensureBlob(d: Descriptor, what: string): Promise<void>;
}

/**
 * Load images from a Docker archive (`docker save`, `skopeo copy …
 * docker-archive:`), an OCI archive (a tar of an image layout) or an OCI
 * image layout directory into the store, and tag them. Every blob is checked:
 * blobs named by digest must hash to it; Docker archive layers are hashed
 * uncompressed and must match the config's `rootfs.diff_ids`. Docker archives
 * become OCI manifests whose layers keep their stored compression (plain tar or
 * gzip). When both `index.json` and `manifest.json` are present (berth's and
 * Docker 25's archives), the OCI index is used so manifests keep their digests.
 */
export async function loadImages(opts: LoadImagesOptions): Promise<LoadedImage[]> {
  const { store } = opts;
  const label = typeof opts.input === 'string' ? opts.input : 'stream';
  const what = `load ${label}`;
  try {
    return await store.withLease(async () => {
      let archive: Archive;
      if (typeof opts.input === 'string' && (await stat(opts.input)).isDirectory()) archive = await openLayoutDir(store, opts.input);
      else archive = await readArchive(store, typeof opts.input === 'string' ? createReadStream(opts.input) : opts.input);
      if (archive.meta.has('index.json')) return await loadOci(store, archive, opts);
      if (archive.meta.has('manifest.json')) return await loadDocker(store, archive);
      throw new BerthError('EINVAL_ARGUMENT', 'neither an OCI layout (index.json) nor a Docker archive (manifest.json)');
    });
  } catch (err) {
    throw BerthError.wrap(what, err, 'ESTORE');
  }
}

/** Normalise a tar entry name; undefined for names that are not plain relative paths. */
function entryName(name: string): string | undefined {
  const n = path.posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  if (n === '' || n === '.' || n.startsWith('/') || n === '..' || n.startsWith('../')) return undefined;
  return n;
}

async function readArchive(store: Store, input: Readable): Promise<Archive> {
  const source = await maybeGunzip(input);
  const meta = new Map<string, Buffer>();
  const files = new Map<string, { digest: Digest; size: number; magic: Buffer }>();
  const links = new Map<string, string>();
  const extract = tar.extract();
  const done = pipeline(source, extract);
  done.catch(() => undefined); // observed below; avoid an unhandled rejection while iterating
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = entryName(h.name);
      if (name === undefined) {
        entry.resume();
        continue;
      }
      if (h.type === 'symlink' && h.linkname) {
        links.set(name, path.posix.normalize(path.posix.join(path.posix.dirname(name), h.linkname)));
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const size = h.size ?? 0;
      const blob = BLOB_PATH_RE.exec(name);
      if (!blob && isMetaName(name) && size <= MAX_META_BYTES) {
        meta.set(name, await collect(entry));
        continue;
      }
      let magic = Buffer.alloc(0);
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          if (magic.length < 8) magic = Buffer.concat([magic, chunk.subarray(0, 8 - magic.length)]);
          cb(null, chunk);
        },
      });
      entry.on('error', (err: Error) => tap.destroy(err));
      entry.pipe(tap);
      const expected = blob ? `${blob[1]}:${blob[2]}` : undefined;
      if (expected !== undefined && !Digest.isValid(expected)) throw new BerthError('EINVAL_DIGEST', `${name}: not a valid blob name`);
      const put = await store.putBlob(tap, { size, ...(expected ? { digest: expected } : {}) }).catch((err: unknown) => {
        throw BerthError.wrap(`blob ${name}`, err, 'EDIGEST_MISMATCH');
      });
      files.set(name, { digest: put.digest, size: put.size, magic });
    }
    await done;
  } catch (err) {
    extract.destroy();
    source.destroy();
    throw err;
  }
  return {
    meta,
    files,
    links,
    ensureBlob: async (d, what) => {
      if (!(await store.has(d.digest))) throw new BerthError('ENOT_FOUND', `${what} ${d.digest} is not in the archive`);
    },
  };
}

function isMetaName(name: string): boolean {
  return name === 'oci-layout' || name === 'repositories' || name.endsWith('.json');
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Peek at the first bytes; a gzip-compressed archive (`docker save | gzip`) is decompressed. */
async function maybeGunzip(input: Readable): Promise<Readable> {
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    const onReadable = (): void => {
      cleanup();
      resolve(input.read() as Buffer | null);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
    };
    input.once('readable', onReadable);
    input.once('end', onEnd);
    input.once('error', onError);
  });
  if (first === null) throw new BerthError('EINVAL_ARGUMENT', 'empty input');
  input.unshift(first);
  if (first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = zlib.createGunzip();
    input.on('error', (err) => gunzip.destroy(err));
    return input.pipe(gunzip);
  }
  return input;
}

async function openLayoutDir(store: Store, dir: string): Promise<Archive> {
  const meta = new Map<string, Buffer>();
  for (const name of ['oci-layout', 'index.json', 'manifest.json']) {
    const p = path.join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (!st.isFile() || st.size > MAX_META_BYTES) throw new BerthError('EINVAL_ARGUMENT', `${name}: not a regular file of at most ${MAX_META_BYTES} bytes`);
    meta.set(name, await readFile(p));
  }
  if (!meta.has('index.json')) throw new BerthError('EINVAL_ARGUMENT', `${dir}: not an OCI image layout (no index.json)`);
  return {
    meta,
    files: new Map(),
    links: new Map(),
    ensureBlob: async (d, what) => {
      if (await store.has(d.digest)) return;
      const digest = Digest.parse(d.digest);
      const file = path.join(dir, 'blobs', digest.algorithm, digest.hex);
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) throw new BerthError('ENOT_FOUND', `${what} ${d.digest} is not in the layout`);
      await store.putBlob(createReadStream(file), { digest, size: d.size });
    },
  };
}

function checkLayout(archive: Archive): void {
  const raw = archive.meta.get('oci-layout');
  if (!raw) return; // Some writers omit it; index.json is what matters.
  const layout = parseJson(raw, z.looseObject({ imageLayoutVersion: z.string() }), { what: 'oci-layout', code: 'EINVAL_ARGUMENT' });
  if (!/^1\./.test(layout.imageLayoutVersion)) throw new BerthError('EUNSUPPORTED', `oci-layout: unsupported imageLayoutVersion ${layout.imageLayoutVersion}`);
}

async function loadOci(store: Store, archive: Archive, opts: LoadImagesOptions): Promise<LoadedImage[]> {
  checkLayout(archive);
  const index = parseIndex(archive.meta.get('index.json') as Buffer, 'index.json');
  const wanted = opts.platform ? normalisePlatform(opts.platform) : hostPlatform();
  const repository = opts.repository === undefined ? undefined : typeof opts.repository === 'string' ? Reference.parse(opts.repository) : opts.repository;
  const out: LoadedImage[] = [];
  for (const entry of index.manifests) {
    if (!isIndexMediaType(entry.mediaType) && !isManifestMediaType(entry.mediaType)) continue; // artifacts and other entries
    if (isManifestMediaType(entry.mediaType) && entry.platform && isUnknownPlatform(entry.platform)) continue; // attestations
    const descriptor = await resolvePlatformManifest(store, archive, entry, wanted, 0);
    const manifest = await readManifestChecked(store, archive, descriptor);
    await archive.ensureBlob(manifest.config, 'config');
    parseImageConfig(await store.readBlob(manifest.config.digest, { size: manifest.config.size }), `config ${manifest.config.digest}`);
    for (const l of manifest.layers) await archive.ensureBlob(l, 'layer');

    const loaded: LoadedImage = { descriptor, format: 'oci' };
    const name = entry.annotations?.[CONTAINERD_NAME_ANNOTATION] ?? entry.annotations?.[REF_NAME_ANNOTATION];
    const ref = name === undefined ? undefined : nameToReference(name, repository);
    if (ref) {
      await store.setTag(ref, descriptor);
      loaded.reference = ref;
    } else if (name !== undefined) loaded.untaggedName = name;
    out.push(loaded);
  }
  if (out.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'index.json lists no images');
  return out;
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

async function resolvePlatformManifest(store: Store, archive: Archive, desc: Descriptor, wanted: Platform, depth: number): Promise<Descriptor> {
  if (!isIndexMediaType(desc.mediaType)) return desc;
  if (depth >= 4) throw new BerthError('EINVAL_MANIFEST', `index ${desc.digest}: nested more than 4 deep`);
  await archive.ensureBlob(desc, 'index');
  const idx = parseIndex(await store.readBlob(desc.digest, { size: desc.size }), `index ${desc.digest}`);
  const chosen = selectPlatform(idx.manifests, wanted);
  if (!chosen) {
    const available = [...new Set(idx.manifests.filter((m) => !isUnknownPlatform(m.platform)).map((m) => formatPlatform(normalisePlatform(m.platform as Platform))))];
    throw new BerthError('ENO_MATCHING_PLATFORM', `index ${desc.digest}: no manifest for ${formatPlatform(wanted)} (available: ${available.join(', ') || 'none'})`);
  }
  const resolved = await resolvePlatformManifest(store, archive, chosen, wanted, depth + 1);
  return resolved;
}

async function readManifestChecked(store: Store, archive: Archive, desc: Descriptor): Promise<Manifest> {
  await archive.ensureBlob(desc, 'manifest');
  return parseManifest(await store.readBlob(desc.digest, { size: desc.size }), `manifest ${desc.digest}`);
}

async function loadDocker(store: Store, archive: Archive): Promise<LoadedImage[]> {
  const entries = parseJson(archive.meta.get('manifest.json') as Buffer, DockerManifestSchema, { what: 'manifest.json', code: 'EINVAL_MANIFEST' });
  if (entries.length === 0) throw new BerthError('EINVAL_MANIFEST', 'manifest.json lists no images');
  const out: LoadedImage[] = [];
  for (const [i, e] of entries.entries()) {
    const what = `manifest.json[${i}]`;
    const configBytes = await fileBytes(store, archive, e.Config, `${what}.Config`);
    const config: ImageConfig = parseImageConfig(configBytes, `${what} config ${e.Config}`);
    const configPut = await store.putBlob(configBytes);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== e.Layers.length) {
      throw new BerthError('EINVAL_MANIFEST', `${what}: ${e.Layers.length} layers but the config lists ${diffIds.length} diff_ids`);
    }
    const layers: Descriptor[] = [];
    for (const [j, p] of e.Layers.entries()) {
      const f = lookupFile(archive, p, `${what}.Layers[${j}]`);
      const compression = sniffCompression(f.magic);
      const diffId = compression === 'none' ? f.digest : await uncompressedDigest(store, f.digest, compression);
      if (!diffId.equals(diffIds[j] as string)) {
        throw new BerthError('EDIGEST_MISMATCH', `${what}.Layers[${j}] ${p}: uncompressed content is ${diffId}, the config's diff_id is ${diffIds[j]}`);
      }
      layers.push({ mediaType: ociLayerMediaType(compression), digest: f.digest.toString(), size: f.size });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configPut.digest.toString(), size: configPut.size },
      layers,
    };
    const bytes = encodeJson(manifest);
    const put = await store.putBlob(bytes);
    const platform: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant) platform.variant = config.variant;
    const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: put.digest.toString(), size: put.size, platform };
    const tags = e.RepoTags ?? [];
    if (tags.length === 0) out.push({ descriptor, format: 'docker' });
    for (const t of tags) {
      const ref = Reference.parse(t);
      await store.setTag(ref, descriptor);
      out.push({ reference: ref, descriptor, format: 'docker' });
    }
  }
  return out;
}

function lookupFile(archive: Archive, p: string, what: string): { digest: Digest; size: number; magic: Buffer } {
  let name = entryName(p);
  for (let hops = 0; name !== undefined && hops < 16; hops++) {
    const f = archive.files.get(name);
    if (f) return f;
    const next = archive.links.get(name);
    if (next === undefined) break;
    name = entryName(next);
  }
  throw new BerthError('ENOT_FOUND', `${what}: ${JSON.stringify(p)} is not in the archive`);
}

async function fileBytes(store: Store, archive: Archive, p: string, what: string): Promise<Buffer> {
  const name = entryName(p);
  const m = name === undefined ? undefined : archive.meta.get(name);
  if (m) return m;
  const f = lookupFile(archive, p, what);
  return store.readBlob(f.digest, { maxBytes: MAX_META_BYTES });
}

function sniffCompression(magic: Buffer): LayerCompression {
  if (magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd) return 'zstd';
  return 'none';
}

async function uncompressedDigest(store: Store, digest: Digest, compression: LayerCompression): Promise<Digest> {
  if (compression === 'zstd') throw new BerthError('EUNSUPPORTED', `layer ${digest}: zstd-compressed layers in Docker archives are not supported`);
  const h = createHash('sha256');
  await pipeline(store.openBlob(digest), zlib.createGunzip(), async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) h.update(c);
  });
  return Digest.parse(`sha256:${h.digest('hex')}`);
}
