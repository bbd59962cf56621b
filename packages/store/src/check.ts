import { BerthError, Digest, Reference } from '@berth/oci';
import type { Descriptor } from '@berth/oci';
import { wrapError } from './fsutil.js';

/** A descriptor, or just a digest, of a stored blob. */
export type DescriptorLike = Descriptor | Digest | string;

/** `d` as a Digest; EINVAL_DIGEST (naming what was being done) when it is not a valid one. */
export function toDigest(d: Digest | string | undefined, doing: string): Digest {
  if (d instanceof Digest) return d;
  if (typeof d !== 'string') throw new BerthError('EINVAL_DIGEST', `${doing}: a digest is required`);
  try {
    return Digest.parse(d);
  } catch (err) {
    throw wrapError(doing, err, 'EINVAL_DIGEST');
  }
}

export function toReference(r: Reference | string, doing: string): Reference {
  if (r instanceof Reference) return r;
  if (typeof r !== 'string') throw new BerthError('EINVAL_REFERENCE', `${doing}: a reference is required`);
  try {
    return Reference.parse(r);
  } catch (err) {
    throw wrapError(doing, err, 'EINVAL_REFERENCE');
  }
}

export function toDescriptorLike(d: DescriptorLike, doing: string): { digest: Digest; size?: number; mediaType?: string } {
  if (d instanceof Digest || typeof d === 'string') return { digest: toDigest(d, doing) };
  if (typeof d !== 'object' || d === null) throw new BerthError('EINVAL_ARGUMENT', `${doing}: expected a descriptor or a digest`);
  const out: { digest: Digest; size?: number; mediaType?: string } = { digest: toDigest(d.digest, doing) };
  if (typeof d.size === 'number') out.size = checkSize(d.size, doing) as number;
  if (typeof d.mediaType === 'string') out.mediaType = d.mediaType;
  return out;
}

export function checkSize(size: number | undefined, doing: string): number | undefined {
  if (size === undefined) return undefined;
  if (!Number.isSafeInteger(size) || size < 0) throw new BerthError('EINVAL_ARGUMENT', `${doing}: size must be a non-negative integer, got ${String(size)}`);
  return size;
}
