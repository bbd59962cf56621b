import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { compressStream, decompressStream } from './compression.js';
import { DEFAULT_LAYER_LIMITS } from './limits.js';
import { TarReader, type TarEntry } from './tar-reader.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type WriteEntry } from './tar-writer.js';

function archive(entries: Array<WriteEntry & { content?: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeHeader(e));
    if (e.content) parts.push(e.content, padding(e.content.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

function ourRead(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  const r = new TarReader({ entry: (e) => out.push(e), data: () => {}, entryEnd: () => {} }, DEFAULT_LAYER_LIMITS);
  r.push(buf);
  r.end();
  return out;
}

async function theirRead(buf: Buffer): Promise<tar.Header[]> {
  const extract = tar.extract();
  const out: tar.Header[] = [];
  extract.end(buf);
  for await (const entry of extract) {
    out.push(entry.header);
    entry.resume();
  }
  return out;
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 } as const;

describe('encodeHeader', () => {
  const cases: Array<WriteEntry & { content?: Buffer }> = [
    { ...base, name: 'a'.repeat(100), type: 'file' },
    { ...base, name: `${'p'.repeat(150)}/${'n'.repeat(99)}`, type: 'file' }, // fits as ustar prefix + name
    { ...base, name: 'q'.repeat(300), type: 'file' }, // no "/" to split at: PAX path
    { ...base, name: 'dir/ünïcødé-名前.txt', type: 'file', content: Buffer.from('u') },
    { ...base, name: 'some/dir', type: 'directory', mode: 0o1777 },
    { ...base, name: 'link', type: 'symlink', linkname: `/${'t'.repeat(150)}` },
    { ...base, name: 'hard', type: 'hardlink', linkname: 'a'.repeat(100) },
    { ...base, name: 'big-ids', type: 'file', uid: 3_000_000, gid: 4_294_967_294, mode: 0o6755 },
    { ...base, name: 'dev', type: 'char', devmajor: 4095, devminor: 1_048_575 },
    { ...base, name: 'fifo', type: 'fifo' },
    { ...base, name: 'old', type: 'file', mtime: 0 },
    { ...base, name: 'before-1970', type: 'file', mtime: -86_400 },
    { ...base, name: 'data', type: 'file', content: Buffer.alloc(1500, 7), size: 1500 },
  ];
  for (const c of cases) if (c.content) c.size = c.content.length;

  it('round-trips through our reader, PAX fields included', () => {
    const got = ourRead(archive(cases));
    expect(got.map((e) => e.name)).toEqual(cases.map((c) => (c.type === 'directory' ? `${c.name}/` : c.name)));
    for (const [i, c] of cases.entries()) {
      const e = got[i] as TarEntry;
      expect(e.type).toBe(c.type);
      expect([e.mode, e.uid, e.gid, e.size, e.mtime.sec]).toEqual([c.mode, c.uid, c.gid, c.size, c.mtime]);
      expect(e.linkname).toBe(c.linkname ?? '');
      if (c.type === 'char') expect([e.devmajor, e.devminor]).toEqual([c.devmajor, c.devminor]);
    }
  });

  it('is read the same by tar-stream (an independent reader)', async () => {
    const got = await theirRead(archive(cases));
    expect(got.map((h) => h.name)).toEqual(cases.map((c) => (c.type === 'directory' ? `${c.name}/` : c.name)));
    for (const [i, c] of cases.entries()) {
      const h = got[i] as tar.Header;
      // tar-stream's base-256 decoder is off by one for negative numbers (-a instead of -a-1).
      if (c.mtime < 0) continue;
      expect([h.mode, h.uid, h.gid, h.size, h.mtime?.getTime()]).toEqual([c.mode, c.uid, c.gid, c.size, c.mtime * 1000]);
      expect(h.uname).toBe('');
      expect(h.gname).toBe('');
      if (c.linkname) expect(h.linkname).toBe(c.linkname);
    }
  });

  it('writes binary xattr values byte for byte, records sorted', () => {
    const value = Buffer.from([0, 0x80, 0xff, 0x0a, 0x3d]);
    const buf = archive([{ ...base, name: 'x', type: 'file', xattrs: [['user.b', Buffer.from('2')], ['security.capability', value]] }]);
    const [e] = ourRead(buf);
    expect(e?.xattrs).toEqual([
      ['security.capability', value],
      ['user.b', Buffer.from('2')],
    ]);
  });

  it('is deterministic', () => {
    const a = archive(cases);
    const b = archive(cases.map((c) => ({ ...c })));
    expect(a.equals(b)).toBe(true);
  });
});

describe('compressStream / decompressStream', () => {
  it.each(['gzip', 'zstd', 'none'] as const)('%s round-trips and compresses deterministically', async (c) => {
    const data = Buffer.from('layer data '.repeat(50_000));
    const run = async (): Promise<Buffer> => {
      const parts: Buffer[] = [];
      await pipeline(
        Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
        compressStream(c),
        new Writable({
          write(chunk: Buffer, _e, cb) {
            parts.push(chunk);
            cb();
          },
        }),
      );
      return Buffer.concat(parts);
    };
    const first = await run();
    expect(first.equals(await run())).toBe(true);
    if (c !== 'none') expect(first.length).toBeLessThan(data.length / 10);
    const back: Buffer[] = [];
    await pipeline(
      Readable.from([first]),
      decompressStream(c),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          back.push(chunk);
          cb();
        },
      }),
    );
    expect(Buffer.concat(back).equals(data)).toBe(true);
  });

  it('refuses an unknown compression', () => {
    expect(() => compressStream('lz4' as never)).toThrow(/unknown compression "lz4"/);
    expect(() => decompressStream('lz4' as never)).toThrow(/unknown compression "lz4"/);
  });
});
