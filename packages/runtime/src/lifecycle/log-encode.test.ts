import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogEncoder, MAX_ENTRY } from './log-encode.js';
import { LogWriter } from './logs.js';
import type { LogEntry } from './logs.js';

const suffix = Buffer.from('","stream":"stdout","time":"t"}\n');
const encode = (b: Buffer): LogEntry => {
  const e = new LogEncoder();
  e.entry(b, 0, b.length, suffix);
  return JSON.parse(e.take().toString('utf8')) as LogEntry;
};

describe('LogEncoder: json-file lines from bytes', () => {
  it('decodes as the WHATWG decoder does (invalid sequences to U+FFFD), escapes quotes, backslashes and control bytes', () => {
    const cases = [
      Buffer.from('plain "quoted" back\\slash\ttab\r\n'),
      Buffer.from([0x00, 0x01, 0x1f, 0x7f, 0x0a]),
      Buffer.from('héllo wörld € 𝄞\n'),
      Buffer.from([0xc3]), // truncated
      Buffer.from([0xe2, 0x82, 0x41]), // a broken 3-byte sequence then A
      Buffer.from([0xed, 0xa0, 0x80]), // a surrogate
      Buffer.from([0xf0, 0x9f, 0x98]), // truncated 4-byte
      Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xf5, 0x80]),
    ];
    for (const b of cases) expect(encode(b).log).toBe(b.toString('utf8'));
    const random = randomFillSync(Buffer.alloc(64 * 1024));
    expect(encode(random).log).toBe(random.toString('utf8'));
  });

  it('LogWriter: one entry per line, across chunks split anywhere (inside a character too), long lines cut at 16 KiB on a character boundary', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logenc-'));
    try {
      const file = path.join(dir, 'container.log');
      const w = new LogWriter(file);
      const text = `one\ntwö\n${'€'.repeat(6000)}\nlast`;
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += 7) w.write('stdout', bytes.subarray(i, i + 7));
      w.write('stderr', Buffer.from('err\n'));
      w.end('stdout');
      w.end('stderr');
      w.close();
      const entries = fs
        .readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as LogEntry);
      const out = entries.filter((e) => e.stream === 'stdout').map((e) => e.log);
      expect(out.join('')).toBe(text);
      expect(out.slice(0, 2)).toEqual(['one\n', 'twö\n']);
      expect(out.at(-1)).toBe('last');
      // 6000 × 3 bytes + \n: two entries, the first at most 16 KiB and ending on a whole €.
      expect(out.length).toBe(5);
      expect(Buffer.byteLength(out[2] ?? '')).toBeLessThanOrEqual(MAX_ENTRY);
      expect(out[2]).toMatch(/^€+$/);
      expect(entries.filter((e) => e.stream === 'stderr').map((e) => e.log)).toEqual(['err\n']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
