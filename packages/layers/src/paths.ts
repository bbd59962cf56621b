/** Lexical path handling shared by apply and create. */

/**
 * The components of an archive path, cleaned the way umoci's CleanPath does
 * (`filepath.Clean("/" + p)`): leading "/" and "." dropped, ".." removes the
 * previous component and never climbs above the root.
 */
export function cleanComponents(name: string): string[] {
  const out: string[] = [];
  let start = 0;
  const len = name.length;
  for (let i = 0; i <= len; i++) {
    if (i === len || name.charCodeAt(i) === 0x2f) {
      if (i > start) {
        const c = name.slice(start, i);
        if (c === '..') out.pop();
        else if (c !== '.') out.push(c);
      }
      start = i + 1;
    }
  }
  return out;
}

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

export type WhiteoutKind =
  | { kind: 'none' }
  | { kind: 'opaque' }
  /** AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`...): ignored, as Docker does. */
  | { kind: 'meta' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'invalid' };

/** Classify a final path component. The opaque marker is matched before the generic prefix. */
export function whiteoutKind(base: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === WHITEOUT_OPAQUE) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') return { kind: 'invalid' };
  return { kind: 'whiteout', target };
}

export function joinRel(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

export function parentRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}
