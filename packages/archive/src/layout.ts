import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import {
  BerthError,
  Digest,
  MediaType,
  VerifyingStream,
  encodeJson,
  parseIndex,
  type BlobTarget,
  type Descriptor,
  type ImageSink,
  type ImageSource,
  type Index,
  type Reference,
} from '@berth/oci';
import { REF_NAME_ANNOTATION } from '@berth/store';

const blobPath = (dir: string, digest: string): string => {
  const d = Digest.parse(digest); // validated before it becomes a path
  return path.join(dir, 'blobs', d.algorithm, d.hex);
};

async function readIndexJson(dir: string): Promise<Index> {
  const bytes = await readFile(path.join(dir, 'index.json')).catch((err: unknown) => {
    throw BerthError.wrap(`read the OCI layout ${dir}`, err, 'EINVAL_ARGUMENT');
  });
  return parseIndex(bytes, `${dir}/index.json`, { code: 'EINVAL_ARGUMENT' });
}

async function sizeOf(file: string): Promise<number | undefined> {
  return stat(file).then(
    (s) => (s.isFile() ? s.size : undefined),
    () => undefined,
  );
}

/**
 * An OCI image layout directory (skopeo's `oci:`, umoci's) as an ImageSource. A reference is
 * found by its `org.opencontainers.image.ref.name`: the full reference, else its bare tag (as
 * skopeo and umoci write it), else by digest. Blobs are read by digest (validated first).
 */
export function layoutSource(dir: string): ImageSource {
  const read = async (d: Descriptor) => {
    const bytes = await readFile(blobPath(dir, d.digest));
    if (bytes.length !== d.size || !Digest.of(bytes, Digest.parse(d.digest).algorithm).equals(d.digest)) {
      throw new BerthError('EDIGEST_MISMATCH', `layout ${dir}: blob ${d.digest} does not match its descriptor`);
    }
    return { descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size }, bytes };
  };
  return {
    name: `layout ${dir}`,
    async resolve(ref) {
      const { manifests } = await readIndexJson(dir);
      const named = (n: string) => manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === n);
      const found = named(ref.toString()) ?? (ref.tag !== undefined ? named(ref.tag) : undefined) ?? manifests.find((m) => ref.digest?.equals(m.digest));
      if (!found) throw new BerthError('EIMAGE_UNKNOWN', `layout ${dir}: no image named ${ref}`);
      return read(found);
    },
    manifest: async (_ref, d) => read(d),
    async fetchBlob(_ref, d, target, opts = {}) {
      const from = target.offset;
      const stream = createReadStream(blobPath(dir, d.digest), { start: from });
      let current = from;
      stream.on('data', (c: Buffer | string) => {
        current += c.length;
        opts.onProgress?.(current);
      });
      await pipeline(stream, target.createWriteStream(), opts.signal ? { signal: opts.signal } : {});
    },
    openBlob: async (_ref, d, opts = {}) => createReadStream(blobPath(dir, d.digest), { start: opts.start ?? 0 }),
  };
}

/**
 * An OCI image layout directory as an ImageSink: `oci-layout` and `index.json` are made when
 * missing; each blob is written to a temp file, verified (digest and size) and renamed into
 * `blobs/`; a tag is one `index.json` entry named by the full reference (replacing an entry of
 * the same name), written to a temp file and renamed.
 */
export function layoutSink(dir: string): ImageSink {
  const tmp = (): string => path.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  const ensureLayout = async (): Promise<void> => {
    await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    if ((await sizeOf(path.join(dir, 'oci-layout'))) === undefined) {
      await writeFile(path.join(dir, 'oci-layout'), encodeJson({ imageLayoutVersion: '1.0.0' }));
    }
  };
  const putVerified = async (d: Descriptor, fill: (target: BlobTarget) => Promise<void>): Promise<void> => {
    await ensureLayout();
    const file = tmp();
    const verify = new VerifyingStream({ expected: d.digest, size: d.size, what: `blob ${d.digest}` });
    const out = createWriteStream(file, { flags: 'wx' });
    const done = pipeline(verify, out);
    done.catch(() => undefined); // awaited below; a mismatch may reject it while `fill` still runs
    const target: BlobTarget = {
      offset: 0,
      createWriteStream: () =>
        new Writable({
          // The callback waits until the verifier took the chunk (and it waits for the file).
          write: (chunk: Buffer, _enc, cb) => void verify.write(chunk, (err) => cb(err ?? undefined)),
          final: (cb) => {
            verify.end();
            cb();
          },
        }),
      reset: async () => {
        throw new BerthError('EUNSUPPORTED', `layout ${dir}: blob ${d.digest}: a restarted copy cannot be taken back`);
      },
    };
    try {
      await fill(target);
      await done;
      await mkdir(path.dirname(blobPath(dir, d.digest)), { recursive: true });
      await rename(file, blobPath(dir, d.digest));
    } catch (err) {
      verify.destroy();
      await done.catch(() => undefined);
      await rm(file, { force: true });
      throw err;
    }
  };
  return {
    name: `layout ${dir}`,
    hasBlob: async (d) => (await sizeOf(blobPath(dir, d.digest))) === d.size,
    readBlob: (d) => readFile(blobPath(dir, d.digest)),
    async writeBlob({ descriptor, source, sourceRef, signal, onProgress }) {
      await putVerified(descriptor, (target) => source.fetchBlob(sourceRef, descriptor, target, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) }));
      return { status: 'written' };
    },
    async writeManifest(_ref, m) {
      await putVerified(m.descriptor, async (target) => {
        await new Promise<void>((resolve, reject) => {
          const w = target.createWriteStream();
          w.on('error', reject);
          w.end(Buffer.from(m.bytes), () => resolve());
        });
      });
    },
    async tag(ref: Reference, d: Descriptor) {
      await ensureLayout();
      const existing: Descriptor[] = (await sizeOf(path.join(dir, 'index.json'))) === undefined ? [] : (await readIndexJson(dir)).manifests;
      const name = ref.toString();
      const manifests = existing.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== name);
      manifests.push({ ...d, annotations: { ...d.annotations, [REF_NAME_ANNOTATION]: name } });
      const file = tmp();
      await writeFile(file, encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
      await rename(file, path.join(dir, 'index.json'));
    },
  };
}
