/**
 * Layer (de)compression as Node Transform streams: gzip through node:zlib,
 * zstd through zstd-napi (native, loaded only when a zstd layer is seen).
 *
 * Compression is deterministic: gzip headers carry no name and mtime 0, the
 * level is fixed; zstd runs single-threaded at a fixed level.
 */
import { createRequire } from 'node:module';
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { BerthError, type LayerCompression } from '@berth/oci';

export interface CompressOptions {
  /** gzip 1..9 (default 6), zstd 1..19 (default 3). */
  level?: number;
}

const CHUNK = 128 * 1024;

interface ZstdModule {
  CompressStream: new (params?: { compressionLevel?: number; checksumFlag?: boolean }) => Transform;
  DecompressStream: new () => Transform;
}

let zstd: ZstdModule | undefined;
function loadZstd(): ZstdModule {
  zstd ??= createRequire(import.meta.url)('zstd-napi') as ZstdModule;
  return zstd;
}

/** A Transform that compresses with `compression` ('none' passes bytes through). */
export function compressStream(compression: LayerCompression, opts: CompressOptions = {}): Transform {
  switch (compression) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGzip({ level: opts.level ?? 6, chunkSize: CHUNK });
    case 'zstd': {
      const { CompressStream } = loadZstd();
      return new CompressStream({ compressionLevel: opts.level ?? 3, checksumFlag: true });
    }
    default:
      throw new BerthError('EUNSUPPORTED', `compress: unknown compression ${JSON.stringify(compression)}`);
  }
}

/**
 * A Transform that decompresses `compression`. gzip accepts concatenated
 * members (as Go does) and trailing zero padding; other trailing bytes fail.
 */
export function decompressStream(compression: LayerCompression): Transform {
  switch (compression) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip({ chunkSize: CHUNK });
    case 'zstd': {
      const { DecompressStream } = loadZstd();
      return new DecompressStream();
    }
    default:
      throw new BerthError('EUNSUPPORTED', `decompress: unknown compression ${JSON.stringify(compression)}`);
  }
}
