import { createWriteStream } from 'node:fs';
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
  type Index,
  REF_NAME_ANNOTATION,
  type Reference,
} from '@berth/oci';
import { dirFiles } from './files.js';
import { ociSource, type ArchiveSource } from './source.js';

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
 * An OCI image layout directory (skopeo's `oci:`, umoci's) as an ImageSource: `ociSource` over
 * the directory's files (see source.ts), the same reader as an oci-archive's.
 */
export function layoutSource(dir: string): ArchiveSource {
  return ociSource(dirFiles(dir), `layout ${dir}`);
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
      // A digest reference (an image saved by digest or ID) is an unnamed entry.
      const name = ref.tag !== undefined && !ref.digest ? ref.toString() : undefined;
      const manifests = existing.filter((m) => (name === undefined ? m.digest !== d.digest || m.annotations?.[REF_NAME_ANNOTATION] !== undefined : m.annotations?.[REF_NAME_ANNOTATION] !== name));
      const annotations = { ...d.annotations };
      delete annotations[REF_NAME_ANNOTATION];
      if (name !== undefined) annotations[REF_NAME_ANNOTATION] = name;
      const entry: Descriptor = { ...d };
      if (Object.keys(annotations).length > 0) entry.annotations = annotations;
      else delete entry.annotations;
      manifests.push(entry);
      const file = tmp();
      await writeFile(file, encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
      await rename(file, path.join(dir, 'index.json'));
    },
  };
}
