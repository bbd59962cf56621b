import { BerthError } from '@berth/oci';

/** Caps applied while reading a layer; exceeding one fails the apply with ETOO_LARGE. */
export interface LayerLimits {
  /** Tar entries (files, dirs, links, whiteouts...; extended headers not counted). */
  maxEntries: number;
  /** Uncompressed bytes of the whole tar stream, trailing bytes included. */
  maxTotalBytes: number;
  /** Content bytes of one entry. */
  maxEntryBytes: number;
  /** Path components of an entry name or hardlink target, after cleaning. */
  maxPathDepth: number;
  /** Bytes of an entry name or link target. */
  maxPathLength: number;
  /** Bytes of one PAX / GNU long-name extended header. */
  maxHeaderBytes: number;
}

export const DEFAULT_LAYER_LIMITS: LayerLimits = Object.freeze({
  maxEntries: 1_000_000,
  maxTotalBytes: 64 * 1024 ** 3,
  maxEntryBytes: 32 * 1024 ** 3,
  maxPathDepth: 256,
  maxPathLength: 4096,
  maxHeaderBytes: 1024 * 1024,
});

export function resolveLimits(partial: Partial<LayerLimits> | undefined, doing: string): LayerLimits {
  const limits: LayerLimits = { ...DEFAULT_LAYER_LIMITS };
  for (const [key, value] of Object.entries(partial ?? {})) {
    if (!(key in DEFAULT_LAYER_LIMITS)) {
      throw new BerthError('EINVAL_ARGUMENT', `${doing}: unknown limit "${key}"`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new BerthError('EINVAL_ARGUMENT', `${doing}: limit ${key} must be a non-negative integer, got ${String(value)}`);
    }
    limits[key as keyof LayerLimits] = value;
  }
  return limits;
}
