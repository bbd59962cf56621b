import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DescriptorSchema, Digest, type Descriptor } from '@berth/oci';
import { z } from 'zod';

/** Bump when what a key covers or what an entry holds changes: old entries then simply miss. */
export const CACHE_VERSION = 1;

const EntrySchema = z.strictObject({
  version: z.literal(CACHE_VERSION),
  key: z.string().regex(/^[a-f0-9]{64}$/),
  /** The layer the step produced; absent when the step changed nothing. */
  layer: DescriptorSchema.optional(),
  diffId: z.string().refine(Digest.isValid).optional(),
  /** When the step first ran (history `created` when no SOURCE_DATE_EPOCH is set). */
  created: z.string(),
});
export type CacheEntry = z.infer<typeof EntrySchema>;

/** A cache key: sha256 over the parent key and a JSON description of the step, as 64 hex digits. */
export function cacheKey(parent: string, step: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify({ v: CACHE_VERSION, parent, step }))
    .digest('hex');
}

/**
 * The build cache: one small JSON file per key (`<dir>/<key>.json`) naming
 * the layer blob in the store that the step produced. Entries are written
 * atomically (temp + rename); a corrupt or foreign entry is a miss. The
 * layers live in the store; an entry whose layer has been garbage-collected
 * is a miss too (checked by the caller with `store.has`).
 */
export class BuildCache {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    if (!/^[a-f0-9]{64}$/.test(key)) throw new Error(`invalid cache key ${key}`);
    return path.join(this.dir, `${key}.json`);
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    let raw: string;
    try {
      raw = await readFile(this.file(key), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = EntrySchema.safeParse(JSON.parse(raw));
      return parsed.success && parsed.data.key === key ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async put(entry: { key: string; layer?: Descriptor; diffId?: string; created: string }): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = this.file(entry.key);
    const tmp = path.join(this.dir, `.${entry.key}.${randomBytes(4).toString('hex')}.tmp`);
    const value: CacheEntry = { version: CACHE_VERSION, key: entry.key, created: entry.created };
    if (entry.layer) value.layer = { mediaType: entry.layer.mediaType, digest: entry.layer.digest, size: entry.layer.size };
    if (entry.diffId) value.diffId = entry.diffId;
    try {
      await writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * Every valid entry, with the bytes its file takes: the layers they name are
   * garbage-collection roots of the store (`store.gc({ keep })`), and
   * `berth builder prune` / `system df` list them.
   */
  async entries(): Promise<Array<CacheEntry & { fileBytes: number }>> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: Array<CacheEntry & { fileBytes: number }> = [];
    for (const name of names) {
      const key = /^([a-f0-9]{64})\.json$/.exec(name)?.[1];
      if (key === undefined) continue;
      const entry = await this.get(key);
      const st = await stat(this.file(key)).catch(() => undefined);
      if (entry && st) out.push({ ...entry, fileBytes: st.blocks * 512 });
    }
    return out;
  }

  /** Remove these entries (absent ones are fine). */
  async remove(keys: Iterable<string>): Promise<void> {
    for (const key of keys) await rm(this.file(key), { force: true });
  }

  /** Remove every entry (`berth builder prune -a`). */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
