/**
 * docker's json-file lines, encoded from the output's bytes in one pass:
 * `{"log":"…","stream":"stdout","time":"…"}\n`. No intermediate strings (a
 * JS string of binary output costs more than the copy itself): printable ASCII
 * and valid UTF-8 sequences are copied, `"` `\` and control bytes escaped, and
 * each invalid UTF-8 sequence becomes U+FFFD (as Go's encoding/json and the
 * WHATWG decoder do). A line longer than MAX_ENTRY bytes is cut into entries
 * of at most that (docker's 16 KiB).
 */

export const MAX_ENTRY = 16 * 1024;
/** The most output bytes one input byte becomes (`\u00XX`). */
const WORST = 6;
const HEX = Buffer.from('0123456789abcdef');

/** Encodes json-file lines into a reusable buffer. */
export class LogEncoder {
  private out: Buffer = Buffer.allocUnsafe(256 * 1024);
  private o = 0;
  private readonly prefix = Buffer.from('{"log":"');

  /** The encoded entries so far (a view of the internal buffer: use it before the next call), and starts over. */
  take(): Buffer {
    const b = this.out.subarray(0, this.o);
    this.o = 0;
    return b;
  }

  get length(): number {
    return this.o;
  }

  /** Appends one entry for `bytes[start, end)` (a whole line with its `\n`, or a cut or unterminated piece). */
  entry(bytes: Buffer, start: number, end: number, suffix: Buffer): void {
    this.reserve((end - start) * WORST + this.prefix.length + suffix.length);
    const out = this.out;
    let o = this.o;
    o += this.prefix.copy(out, o);
    let i = start;
    while (i < end) {
      const c = bytes[i] as number;
      if (c >= 0x20 && c < 0x80) {
        if (c === 0x22 || c === 0x5c) {
          out[o++] = 0x5c;
          out[o++] = c;
          i++;
          continue;
        }
        // A run of ASCII needing no escape: copied at once.
        let j = i + 1;
        for (; j < end; j++) {
          const d = bytes[j] as number;
          if (d < 0x20 || d >= 0x80 || d === 0x22 || d === 0x5c) break;
        }
        if (j - i > 16) o += bytes.copy(out, o, i, j);
        else for (let k = i; k < j; k++) out[o++] = bytes[k] as number;
        i = j;
        continue;
      }
      if (c < 0x20) {
        out[o++] = 0x5c;
        if (c === 0x0a) out[o++] = 0x6e;
        else if (c === 0x09) out[o++] = 0x74;
        else if (c === 0x0d) out[o++] = 0x72;
        else {
          out[o++] = 0x75; // u
          out[o++] = 0x30;
          out[o++] = 0x30;
          out[o++] = HEX[c >> 4] as number;
          out[o++] = HEX[c & 15] as number;
        }
        i++;
        continue;
      }
      // A UTF-8 sequence: copied when well-formed, else its maximal invalid part becomes U+FFFD.
      const len = validSequence(bytes, i, end);
      if (len > 0) {
        out[o++] = c;
        for (let k = 1; k < len; k++) out[o++] = bytes[i + k] as number;
        i += len;
      } else {
        out[o++] = 0xef;
        out[o++] = 0xbf;
        out[o++] = 0xbd;
        i += Math.max(1, -len);
      }
    }
    o += suffix.copy(out, o);
    this.o = o;
  }

  private reserve(n: number): void {
    if (this.o + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.o + n));
    this.out.copy(bigger, 0, 0, this.o);
    this.out = bigger;
  }
}

/**
 * The length of the well-formed UTF-8 sequence at `b[i]` (a lead byte ≥ 0x80), or minus the
 * length of its maximal invalid subpart (at least 1) when it is not one.
 */
function validSequence(b: Buffer, i: number, end: number): number {
  const c = b[i] as number;
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
  } else return -1;
  for (let j = 1; j <= need; j++) {
    const d = i + j < end ? (b[i + j] as number) : -1;
    if (d < lo || d > hi) return -j;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/**
 * Where to cut a line that is longer than an entry: at `at`, moved back to the start of a UTF-8
 * sequence (at most 3 bytes) so that no character is split between two entries.
 */
export function cutPoint(b: Buffer, start: number, at: number): number {
  let cut = at;
  while (cut > start && cut > at - 3 && ((b[cut] as number) & 0xc0) === 0x80) cut--;
  return cut > start ? cut : at;
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts one container's output into docker's log entries, per stream: each whole line (with its
 * `\n`), a line longer than MAX_ENTRY in pieces of at most that (cut between characters), and
 * the unterminated rest held until more comes or end(). `emit` gets each entry as a range of
 * a buffer that is only valid during the call.
 */
export class LineCutter {
  private readonly partial: Record<'stdout' | 'stderr', Buffer> = { stdout: EMPTY, stderr: EMPTY };

  push(stream: 'stdout' | 'stderr', chunk: Buffer, emit: (bytes: Buffer, start: number, end: number) => void): void {
    const held = this.partial[stream];
    const bytes = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      const lineEnd = nl < 0 ? bytes.length : nl + 1;
      if (lineEnd - start > MAX_ENTRY) {
        const cut = cutPoint(bytes, start, start + MAX_ENTRY);
        emit(bytes, start, cut);
        start = cut;
        continue;
      }
      if (nl < 0) break;
      emit(bytes, start, lineEnd);
      start = lineEnd;
    }
    // A copy: the chunk's memory belongs to its stream.
    this.partial[stream] = start === bytes.length ? EMPTY : Buffer.from(bytes.subarray(start));
  }

  /** The stream ended: its unterminated last line, if any, as an entry. */
  end(stream: 'stdout' | 'stderr', emit: (bytes: Buffer, start: number, end: number) => void): void {
    const rest = this.partial[stream];
    this.partial[stream] = EMPTY;
    if (rest.length > 0) emit(rest, 0, rest.length);
  }
}
