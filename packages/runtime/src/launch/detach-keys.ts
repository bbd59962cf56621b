import { BerthError } from '@berth/oci';

/** docker's default detach sequence: ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

const CTRL_PUNCT: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };

/**
 * `--detach-keys` as docker reads it: comma-separated keys, each a single character or
 * `ctrl-<a…z|@|[|\|]|^|_>`. Throws a one-line error naming the flag for anything else.
 */
export function parseDetachKeys(spec: string): Buffer {
  const codes: number[] = [];
  for (const key of spec.split(',')) {
    if (key.length === 1) {
      codes.push(key.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/.exec(key);
    const c = m?.[1];
    if (c !== undefined && c >= 'a' && c <= 'z') codes.push(c.charCodeAt(0) - 96);
    else if (c !== undefined && CTRL_PUNCT[c] !== undefined) codes.push(CTRL_PUNCT[c]);
    else throw new BerthError('EINVAL_ARGUMENT', `invalid --detach-keys ${JSON.stringify(spec)}: ${JSON.stringify(key)} is not a key (a character or ctrl-<a-z@[\\]^_>)`);
  }
  if (codes.length === 0 || codes.some((c) => c > 0x7f)) throw new BerthError('EINVAL_ARGUMENT', `invalid --detach-keys ${JSON.stringify(spec)}`);
  return Buffer.from(codes);
}

/**
 * Watches typed input for the detach sequence, as docker's escape proxy does: bytes that may
 * begin the sequence are held back; when the sequence breaks they are passed on with what
 * follows, when it completes nothing of it is passed on and `detached` is true.
 */
export class DetachKeyScanner {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  /** What of `chunk` goes on to the container, and whether the sequence completed in it (what follows it is dropped). */
  push(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { forward: Buffer.from(out), detached: true };
        }
        continue;
      }
      // The sequence broke: what was held goes on, then this byte may begin it anew.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i] as number);
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { forward: Buffer.from(out), detached: false };
  }
}
