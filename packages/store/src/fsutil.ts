import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, describeError, type ErrorCode } from '@berth/oci';

/** fsync a directory so a rename or unlink inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A fresh, unique file name for a temporary file inside `dir`. */
export function tempName(dir: string, prefix: string): string {
  return path.join(dir, `${prefix}-${process.pid}-${randomBytes(8).toString('hex')}`);
}

/**
 * Replace `target` atomically with `data`: write a temp file in `tmpDir` (same
 * filesystem), fsync it, rename over the target, fsync the target's directory.
 * A crash leaves either the old or the new content, never a mix. The file is
 * made with `mode` (the store's are 0600).
 */
export async function writeFileAtomic(target: string, data: Uint8Array, tmpDir: string, mode: number): Promise<void> {
  const tmp = tempName(tmpDir, path.basename(target));
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

/** Write all of `data` at `position` (regular files may return short writes in theory). */
export async function writeFully(fh: import('node:fs/promises').FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`short write at offset ${position + done}`);
    done += bytesWritten;
  }
}

/**
 * Write all of `buffers`, in order, at `position` with as few `pwritev(2)` calls
 * as the kernel allows (a short write continues where it stopped).
 */
export async function writevFully(fh: import('node:fs/promises').FileHandle, buffers: readonly Uint8Array[], position: number): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0);
  let pos = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, pos);
    if (bytesWritten <= 0) throw new Error(`short write at offset ${pos}`);
    pos += bytesWritten;
    let skip = bytesWritten;
    const next: Uint8Array[] = [];
    for (const b of rest) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      next.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    rest = next;
  }
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/**
 * Wrap an error with what was being done, without repeating a prefix the
 * error already carries. BerthErrors keep their code.
 */
export function wrapError(doing: string, err: unknown, fallback: ErrorCode = 'ESTORE'): BerthError {
  if (err instanceof BerthError) return err.message.startsWith(doing) ? err : BerthError.wrap(doing, err, fallback);
  return new BerthError(fallback, `${doing}: ${describeError(err)}`, { cause: err });
}

/** The names in `dir`, or none when it does not exist. */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
