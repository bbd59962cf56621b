import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import {
  BerthError,
  CONTAINERD_NAME_ANNOTATION,
  Digest,
  MediaType,
  REF_NAME_ANNOTATION,
  encodeJson,
  isIndexMediaType,
  parseManifest,
  type Descriptor,
  type ImageSink,
  type ImageSource,
  type Reference,
} from '@berth/oci';

export type ArchiveFormat = 'docker-archive' | 'oci-archive';

export interface ArchiveSinkOptions {
  /**
   * `docker-archive` (default): one tar that is both a Docker archive (`manifest.json`) and an
   * OCI layout, as Docker 25+'s `docker save` writes it. `oci-archive`: the OCI layout alone
   * (skopeo's `oci-archive:`), which can also hold a whole index.
   */
  format?: ArchiveFormat;
  /** A file path (written to a temp file beside it and renamed) or a stream (e.g. stdout). */
  output: string | Writable;
}

/** An ImageSink that becomes a tar when closed. */
export interface ArchiveSink extends ImageSink {
  /** Write the tar: metadata, then every blob once, sorted by digest. Returns the blob bytes written. */
  close(): Promise<{ bytes: number }>;
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

/**
 * A tar archive as an ImageSink. A tar is written front to back and its metadata (`index.json`,
 * `manifest.json`) comes first, so a streaming reader sees the manifests before the blobs: the
 * sink notes what copyImage gives it (where each blob comes from, the manifests' bytes, the
 * tags) and writes everything at `close()`, each blob streamed from its source (the store's
 * streams are verified). Headers are deterministic (mtime 0, uid/gid 0, blobs sorted by
 * digest): the same images give the same bytes. An index entry per tag carries the platform and
 * the full name (in `org.opencontainers.image.ref.name` and `io.containerd.image.name`); a
 * digest reference gives an unnamed entry (and no `RepoTags`).
 */
export function archiveSink(opts: ArchiveSinkOptions): ArchiveSink {
  const format = opts.format ?? 'docker-archive';
  const blobs = new Map<string, { d: Descriptor; source: ImageSource; ref: Reference }>();
  const manifests = new Map<string, Buffer>();
  const tags: Array<{ ref: Reference; d: Descriptor }> = [];
  const label = typeof opts.output === 'string' ? opts.output : 'stream';

  const metadata = (): Array<[string, Buffer]> => {
    const entries: Descriptor[] = [];
    const docker = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
    for (const { ref, d } of tags) {
      const named = ref.tag !== undefined && !ref.digest;
      const entry: Descriptor = { mediaType: d.mediaType || MediaType.OciManifest, digest: d.digest, size: d.size };
      if (d.platform) entry.platform = d.platform;
      if (named) entry.annotations = { [REF_NAME_ANNOTATION]: ref.toString(), [CONTAINERD_NAME_ANNOTATION]: ref.toString() };
      if (!entries.some((e) => e.digest === entry.digest && e.annotations?.[REF_NAME_ANNOTATION] === entry.annotations?.[REF_NAME_ANNOTATION])) entries.push(entry);
      if (format !== 'docker-archive') continue;
      if (isIndexMediaType(d.mediaType)) {
        throw new BerthError('EUNSUPPORTED', `save ${ref}: a docker-archive holds single-platform images; write an oci-archive for a whole index`);
      }
      const m = parseManifest(manifests.get(d.digest) as Buffer, `manifest ${d.digest}`);
      const item = docker.get(d.digest) ?? { Config: blobPath(m.config.digest), RepoTags: [], Layers: m.layers.map((l) => blobPath(l.digest)) };
      if (named && !item.RepoTags.includes(ref.familiar())) item.RepoTags.push(ref.familiar());
      docker.set(d.digest, item);
    }
    const meta: Array<[string, Buffer]> = [
      ['oci-layout', encodeJson({ imageLayoutVersion: '1.0.0' })],
      ['index.json', encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries })],
    ];
    if (format === 'docker-archive') meta.push(['manifest.json', encodeJson([...docker.values()])]);
    return meta;
  };

  const produce = async (pack: tar.Pack): Promise<number> => {
    let bytes = 0;
    for (const [name, data] of metadata()) await addBuffer(pack, name, data);
    pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
    pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
    const digests = [...new Set([...blobs.keys(), ...manifests.keys()])].sort();
    for (const digest of digests) {
      if (Digest.parse(digest).algorithm !== 'sha256') throw new BerthError('EUNSUPPORTED', `save: ${digest}: only sha256 blobs can be saved`);
      const held = manifests.get(digest);
      if (held) {
        await addBuffer(pack, blobPath(digest), held);
        bytes += held.length;
        continue;
      }
      const { d, source, ref } = blobs.get(digest) as { d: Descriptor; source: ImageSource; ref: Reference };
      const entry = pack.entry({ name: blobPath(digest), size: d.size, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0 });
      await pipeline(await source.openBlob(ref, d), entry);
      bytes += d.size;
    }
    pack.finalize();
    return bytes;
  };

  return {
    name: `${format} ${label}`,
    hasBlob: async (d) => blobs.has(d.digest) || manifests.has(d.digest),
    async writeBlob({ descriptor, source, sourceRef }) {
      blobs.set(descriptor.digest, { d: descriptor, source, ref: sourceRef });
      return { status: 'written' };
    },
    async writeManifest(_ref, m) {
      manifests.set(m.descriptor.digest, Buffer.from(m.bytes));
    },
    async tag(ref, d) {
      if (!manifests.has(d.digest)) throw new BerthError('EINVAL_ARGUMENT', `tag ${ref}: manifest ${d.digest} was not written first`);
      tags.push({ ref, d });
    },
    async close() {
      // tar-stream is loaded when a tar is written, not by `import '@berth/archive'`.
      const { default: tarStream } = await import('tar-stream');
      const pack = tarStream.pack();
      let bytes = 0;
      const run = (out: Writable, end: boolean): Promise<unknown> =>
        Promise.all([
          produce(pack).then(
            (n) => (bytes = n),
            (err: unknown) => pack.destroy(err as Error),
          ),
          pipeline(pack, out, { end }),
        ]);
      if (typeof opts.output === 'string') {
        const target = path.resolve(opts.output);
        const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
        try {
          await run(createWriteStream(tmp, { mode: 0o644 }), true);
          await rename(tmp, target);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
      } else {
        await run(opts.output, opts.output !== process.stdout);
      }
      return { bytes };
    },
  };
}
