import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { BerthError, detectLayerCompression } from '@berth/oci';
import { dirFiles, tarFiles, type ArchiveFiles } from './files.js';
import { dockerSource } from './docker-source.js';
import { ociSource, type ArchiveSource } from './source.js';

export interface OpenedArchive {
  source: ArchiveSource;
  /** Removes the temp copy a stream or a gzip-compressed file was spooled into. */
  close(): Promise<void>;
}

/**
 * An archive as an ArchiveSource, whatever its form: an OCI layout directory; a tar file
 * (read in place); a gzip-compressed tar or a stream (stdin), first spooled, uncompressed, into
 * a temp file, because a tar is read at offsets (as skopeo does with `docker-archive:` from a
 * pipe). With an `index.json` it is read as OCI (manifests keep their digests; berth's and
 * Docker 25+'s archives have both), else by `manifest.json` as a Docker archive.
 */
export async function openArchive(input: string | Readable): Promise<OpenedArchive> {
  let tmp: string | undefined;
  const close = async (): Promise<void> => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
  try {
    const label = typeof input === 'string' ? input : 'stdin';
    let files: ArchiveFiles;
    let dir = false;
    if (typeof input === 'string' && (await stat(input)).isDirectory()) {
      files = dirFiles(input);
      dir = true;
    } else {
      let file = typeof input === 'string' ? input : undefined;
      const gzip = file !== undefined && (await isGzip(file));
      if (file === undefined || gzip) {
        tmp = await mkdtemp(path.join(tmpdir(), 'berth-load-'));
        const spooled = path.join(tmp, 'archive.tar');
        const from = file !== undefined ? createReadStream(file) : (input as Readable);
        if (gzip) await pipeline(from, zlib.createGunzip(), createWriteStream(spooled));
        else await spoolMaybeGzip(from, spooled);
        file = spooled;
      }
      files = await tarFiles(file, label);
    }
    let source: ArchiveSource;
    if ((await files.size('index.json')) !== undefined) source = ociSource(files, `${dir ? 'oci' : 'oci-archive'} ${label}`);
    else if (!dir && (await files.size('manifest.json')) !== undefined) source = dockerSource(files, `docker-archive ${label}`);
    else if (dir) throw new BerthError('EINVAL_ARGUMENT', `${label}: not an OCI image layout (no index.json)`);
    else throw new BerthError('EINVAL_ARGUMENT', 'neither an OCI layout (index.json) nor a Docker archive (manifest.json)');
    return { source, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead >= 2 && detectLayerCompression(b) === 'gzip';
  } finally {
    await fh.close();
  }
}

/** A stream into `file`, gunzipped when its first bytes say gzip (`docker save | gzip | berth load`). */
async function spoolMaybeGzip(input: Readable, file: string): Promise<void> {
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    const cleanup = (): void => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
    };
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
    input.once('readable', onReadable);
    input.once('end', onEnd);
    input.once('error', onError);
  });
  if (first === null) throw new BerthError('EINVAL_ARGUMENT', 'empty input');
  input.unshift(first);
  if (detectLayerCompression(first) === 'gzip') await pipeline(input, zlib.createGunzip(), createWriteStream(file));
  else await pipeline(input, createWriteStream(file));
}
