import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { base256, buildLayerSync, buildTar, CAPABILITY_XATTR, layerFixtures, pad, paxData, rawHeader, type EntrySpec } from '../../../fixtures/layers/index.js';
import { DEFAULT_LAYER_LIMITS, type LayerLimits } from './limits.js';
import { parseNumeric, paxTime, TarReader, type TarEntry } from './tar-reader.js';

interface Read {
  entry: TarEntry;
  data: Buffer;
}

/** Read a whole tar, pushing it in `chunk`-byte pieces. */
function readTar(tar: Buffer, opts: { chunk?: number; limits?: Partial<LayerLimits> } = {}): { entries: Read[]; reader: TarReader } {
  const entries: Read[] = [];
  let cur: Read | undefined;
  let parts: Buffer[] = [];
  const reader = new TarReader(
    {
      entry(e) {
        cur = { entry: e, data: Buffer.alloc(0) };
        parts = [];
      },
      data(c) {
        parts.push(Buffer.from(c));
      },
      entryEnd() {
        if (!cur) throw new Error('entryEnd without entry');
        cur.data = Buffer.concat(parts);
        entries.push(cur);
        cur = undefined;
      },
    },
    { ...DEFAULT_LAYER_LIMITS, ...opts.limits },
  );
  const step = opts.chunk ?? tar.length;
  for (let i = 0; i < tar.length; i += step) reader.push(tar.subarray(i, Math.min(tar.length, i + step)));
  reader.end();
  return { entries, reader };
}

/** A header (GNU long name 'L' or link 'K', PAX 'x') carrying `body`, padded to whole 512-byte blocks. */
function withBody(header: { name: string; typeflag: string }, body: Buffer): Buffer {
  return Buffer.concat([rawHeader({ ...header, size: body.length }), body, pad(body.length)]);
}

function expectLayerError(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe(code);
    expect((err as BerthError).message).toMatch(message);
    expect((err as BerthError).message).not.toContain('\n');
    return;
  }
  throw new Error('expected an error');
}

const fixture = (name: keyof typeof layerFixtures): EntrySpec[] => layerFixtures[name].layers({ outside: '/nonexistent-outside' })[0] as EntrySpec[];

describe('TarReader', () => {
  it('reads what tar-stream packs: types, modes, owners, times, links, devices, content', async () => {
    const tar = await buildTar(fixture('allTypes'));
    const { entries, reader } = readTar(tar);
    const byName = new Map(entries.map((r) => [r.entry.name, r]));
    expect(entries.length).toBe(fixture('allTypes').length);
    expect(reader.ended).toBe(true);
    expect(reader.bytes).toBe(tar.length);

    const bb = byName.get('bin/busybox');
    expect(bb?.entry).toMatchObject({ type: 'file', mode: 0o755, uid: 0, gid: 0, size: 14, mtime: { sec: 1_700_000_000, nsec: 0 } });
    expect(bb?.data.toString()).toBe('busybox binary');
    expect(byName.get('bin/sh')?.entry).toMatchObject({ type: 'hardlink', linkname: 'bin/busybox', size: 0 });
    expect(byName.get('bin/link')?.entry).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    expect(byName.get('dev/null')?.entry).toMatchObject({ type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    expect(byName.get('dev/loop0')?.entry).toMatchObject({ type: 'block', devmajor: 7, devminor: 0, gid: 6 });
    expect(byName.get('run/fifo')?.entry).toMatchObject({ type: 'fifo', mode: 0o620 });
    expect(byName.get('usr/bin/su')?.entry.mode).toBe(0o4755);
    expect(byName.get('usr/bin/both')?.entry.mode).toBe(0o6711);
    expect(byName.get('tmp/')?.entry).toMatchObject({ type: 'directory', mode: 0o1777 });
    expect(byName.get('home/user/file')?.entry).toMatchObject({ uid: 1000, gid: 1000, mtime: { sec: 1_234_567_890, nsec: 0 } });
    expect(byName.get('big.bin')?.data.equals(Buffer.alloc(300_000, 0xab))).toBe(true);
    expect(byName.get('empty')?.data.length).toBe(0);
  });

  it('reads the raw-encoder build (buildLayerSync) the same as the tar-stream one', async () => {
    const specs = [...fixture('allTypes'), ...fixture('longNames'), ...fixture('unicodeNames')];
    const a = readTar(await buildTar(specs)).entries;
    const b = readTar(buildLayerSync(specs)).entries;
    expect(b.map((r) => [r.entry, r.data.toString('hex')])).toEqual(a.map((r) => [r.entry, r.data.toString('hex')]));
  });

  it('gives the same result however the stream is chunked', async () => {
    const tar = await buildTar([...fixture('allTypes'), ...fixture('longNames'), ...fixture('xattrs')]);
    const whole = readTar(tar).entries;
    for (const chunk of [1, 7, 511, 512, 513, 4096]) {
      const pieces = readTar(tar, { chunk }).entries;
      expect(pieces.map((r) => [r.entry, r.data.toString('hex')])).toEqual(whole.map((r) => [r.entry, r.data.toString('hex')]));
    }
  });

  it('applies PAX and GNU long names and long link targets', async () => {
    const { entries } = readTar(await buildTar(fixture('longNames')));
    expect(entries.map((r) => r.entry.name)).toEqual([
      fixture('longNames')[0]?.path,
      fixture('longNames')[1]?.path,
      'longlink',
      'longhard',
    ]);
    expect(entries[2]?.entry.linkname).toBe(`/${'t'.repeat(200)}/target`);
    expect(entries[3]?.entry.linkname).toBe(fixture('longNames')[1]?.path);

    const longName = `gnu/${'n'.repeat(150)}`;
    const gnuName = Buffer.from(`${longName}\0`);
    const longTarget = `target/${'t'.repeat(150)}`;
    const gnuLink = Buffer.from(`${longTarget}\0`);
    const tar = Buffer.concat([
      withBody({ name: '././@LongLink', typeflag: 'L' }, gnuName),
      withBody({ name: '././@LongLink', typeflag: 'K' }, gnuLink),
      rawHeader({ name: 'short', typeflag: '2', linkname: 'short-target' }),
      Buffer.alloc(1024),
    ]);
    const gnu = readTar(tar).entries;
    expect(gnu[0]?.entry).toMatchObject({ name: longName, type: 'symlink', linkname: longTarget });
  });

  it('keeps PAX xattr values as raw bytes (security.capability survives)', async () => {
    const { entries } = readTar(await buildTar(fixture('xattrs')));
    const ping = entries.find((r) => r.entry.name === 'ping');
    expect(ping?.entry.xattrs).toEqual([['security.capability', CAPABILITY_XATTR]]);
    const text = entries.find((r) => r.entry.name === 'text');
    expect(new Map(text?.entry.xattrs)).toEqual(
      new Map([
        ['user.comment', Buffer.from('hello')],
        ['user.binary', Buffer.from([0, 1, 0xfe, 0xff])],
      ]),
    );
  });

  it('decodes UTF-8 names and refuses invalid UTF-8', async () => {
    const { entries } = readTar(await buildTar(fixture('unicodeNames')));
    expect(entries.map((r) => r.entry.name)).toEqual(['ünïcødé/', 'ünïcødé/日本語.txt', 'ünïcødé/emoji-😀.txt', 'ünïcødé/Ωmega']);
    const bad = rawHeader({ name: 'x', typeflag: '0' });
    bad[0] = 0xff;
    // fix the checksum after the edit
    bad.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of bad) sum += b;
    bad.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expectLayerError(() => readTar(Buffer.concat([bad, Buffer.alloc(1024)])), 'EUNSUPPORTED', /not valid UTF-8/);
  });

  it('reads PAX times with nanoseconds, negative times included', async () => {
    const { entries } = readTar(await buildTar(fixture('paxMtime')));
    expect(entries[0]?.entry.mtime).toEqual({ sec: 1_700_000_000, nsec: 123_456_789 });
    expect(entries[1]?.entry.mtime).toEqual({ sec: -86401, nsec: 500_000_000 });
    expect(paxTime(Buffer.from('12'), 'mtime', 'x')).toEqual({ sec: 12, nsec: 0 });
    expect(paxTime(Buffer.from('12.5'), 'mtime', 'x')).toEqual({ sec: 12, nsec: 500_000_000 });
    expect(paxTime(Buffer.from('1.1234567891234'), 'mtime', 'x')).toEqual({ sec: 1, nsec: 123_456_789 });
    expect(() => paxTime(Buffer.from('1e9'), 'mtime', 'x')).toThrow(/invalid PAX mtime/);
  });

  it('never applies a PAX global header (path/linkpath ignored, even with a later per-entry PAX header)', async () => {
    const { entries } = readTar(await buildTar(fixture('globalPaxPath')));
    expect(entries.map((r) => [r.entry.name, r.entry.linkname])).toEqual([
      ['first', ''],
      ['second', ''],
      ['third', 'first'],
    ]);
  });

  it.each([
    ['gnuSparse', 'EUNSUPPORTED', /entry "sparse": unsupported entry type 'S' \(GNU sparse file\)/],
    ['unknownType', 'EUNSUPPORTED', /entry "weird": unsupported entry type 'Z'/],
    ['volumeLabel', 'EUNSUPPORTED', /unsupported entry type 'V' \(GNU volume label\)/],
    ['paxSparse', 'EUNSUPPORTED', /GNU sparse files are not supported/],
    ['negativeSize', 'ELAYER', /invalid size field/],
    ['absurdSize', 'ETOO_LARGE', /entry "huge": 1125899906842624 bytes exceeds the per-entry limit/],
    ['symlinkWithData', 'ELAYER', /entry "s": symlink entry with a non-zero size/],
    ['badChecksum', 'ELAYER', /invalid tar header checksum/],
    ['doublePax', 'ELAYER', /two PAX headers for one entry/],
  ] as const)('refuses %s', async (name, code, message) => {
    const tar = await buildTar(fixture(name));
    expectLayerError(() => readTar(tar), code, message);
  });

  it('refuses a PAX path together with a GNU long name, and repeated long names', () => {
    const name = Buffer.from('gnu-name\0');
    const pax = paxData({ path: 'pax-name' });
    const both = Buffer.concat([
      withBody({ name: '././@LongLink', typeflag: 'L' }, name),
      withBody({ name: 'PaxHeader', typeflag: 'x' }, pax),
      rawHeader({ name: 'x', typeflag: '0' }),
      Buffer.alloc(1024),
    ]);
    expectLayerError(() => readTar(both), 'ELAYER', /both a PAX path and a GNU long name/);
    const twice = Buffer.concat([
      withBody({ name: '././@LongLink', typeflag: 'L' }, name),
      withBody({ name: '././@LongLink', typeflag: 'L' }, name),
      rawHeader({ name: 'x', typeflag: '0' }),
    ]);
    expectLayerError(() => readTar(twice), 'ELAYER', /two GNU long-name headers/);
  });

  it('refuses malformed PAX records and duplicate keys', () => {
    for (const data of [Buffer.from('5 a=b\n'), Buffer.from('abc path=x\n'), Buffer.from('9 path=x'), Buffer.from('08 a=bc\n'), Buffer.from('6 =xy\n')]) {
      const tar = Buffer.concat([withBody({ name: 'P', typeflag: 'x' }, data), rawHeader({ name: 'x', typeflag: '0' })]);
      expectLayerError(() => readTar(tar), 'ELAYER', /PAX record/);
    }
    const dup = Buffer.concat([paxData({ path: 'a' }), paxData({ path: 'b' })]);
    const tar = Buffer.concat([withBody({ name: 'P', typeflag: 'x' }, dup), rawHeader({ name: 'x', typeflag: '0' })]);
    expectLayerError(() => readTar(tar), 'ELAYER', /duplicate PAX record "path"/);
  });

  it('handles the end of the archive: trailing bytes ignored but counted, a lone zero block accepted, garbage after one refused', async () => {
    const entries = [{ path: 'a', content: 'a' }];
    const trailing = await buildTar(entries, { trailing: Buffer.from('trailing bytes that are not tar') });
    const t = readTar(trailing);
    expect(t.entries.map((r) => r.entry.name)).toEqual(['a']);
    expect(t.reader.bytes).toBe(trailing.length);

    const noMarker = await buildTar(entries, { noEndMarker: true });
    expect(readTar(noMarker).entries.length).toBe(1);
    expect(readTar(Buffer.concat([noMarker, Buffer.alloc(512)])).entries.length).toBe(1);

    const junk = Buffer.concat([noMarker, Buffer.alloc(512), rawHeader({ name: 'hidden', typeflag: '0' })]);
    expectLayerError(() => readTar(junk), 'ELAYER', /data after a zero block/);
  });

  it('refuses a stream cut inside an entry or a header', async () => {
    const full = await buildTar([{ path: 'a', content: 'x'.repeat(2000) }]);
    expectLayerError(() => readTar(full.subarray(0, 1200)), 'ELAYER', /entry "a": unexpected end of tar stream/);
    expectLayerError(() => readTar(full.subarray(0, 300)), 'ELAYER', /header at byte 0: unexpected end of tar stream/);
    const pax = paxData({ path: 'x' });
    const dangling = withBody({ name: 'P', typeflag: 'x' }, pax);
    expectLayerError(() => readTar(dangling), 'ELAYER', /unexpected end/);
    expectLayerError(() => readTar(Buffer.concat([dangling, Buffer.alloc(1024)])), 'ELAYER', /extended header not followed by an entry/);
  });

  it('enforces the limits', async () => {
    const many = await buildTar(Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, content: 'x' })));
    expectLayerError(() => readTar(many, { limits: { maxEntries: 4 } }), 'ETOO_LARGE', /entry "f4": more than 4 entries/);
    expect(readTar(many, { limits: { maxEntries: 5 } }).entries.length).toBe(5);
    expectLayerError(() => readTar(many, { limits: { maxTotalBytes: 2048 } }), 'ETOO_LARGE', /uncompressed layer exceeds 2048 bytes/);
    const big = await buildTar([{ path: 'big', content: Buffer.alloc(5000) }]);
    expectLayerError(() => readTar(big, { limits: { maxEntryBytes: 4999 } }), 'ETOO_LARGE', /entry "big": 5000 bytes exceeds/);
    const long = await buildTar([{ path: `${'p/'.repeat(100)}f`, content: '' }]);
    expectLayerError(() => readTar(long, { limits: { maxPathLength: 200 } }), 'ETOO_LARGE', /name longer than 200 bytes/);
    const hugePax = paxData({ comment: 'c'.repeat(2 * 1024 * 1024) });
    const tar = Buffer.concat([rawHeader({ name: 'P', typeflag: 'x', size: hugePax.length }), hugePax.subarray(0, 512)]);
    expectLayerError(() => readTar(tar), 'ETOO_LARGE', /extended header of \d+ bytes exceeds the limit of 1048576/);
  });

  it('accepts old V7 headers (no magic) and treats a NUL typeflag with a trailing slash as a directory', () => {
    const v7 = rawHeader({ name: 'old/', typeflag: '\0' });
    v7.fill(0, 257, 265);
    v7.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of v7) sum += b;
    v7.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const { entries } = readTar(Buffer.concat([v7, Buffer.alloc(1024)]));
    expect(entries[0]?.entry).toMatchObject({ name: 'old/', type: 'directory' });
  });
});

describe('parseNumeric', () => {
  it('parses octal with space/NUL padding and GNU base-256 (positive and negative)', () => {
    const f = (s: string | Buffer): number | undefined => parseNumeric(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'), 0, Buffer.isBuffer(s) ? s.length : s.length);
    expect(f('0000644\0')).toBe(0o644);
    expect(f('   644 \0')).toBe(0o644);
    expect(f('\0\0\0\0\0\0\0\0')).toBe(0);
    expect(f('0000009\0')).toBeUndefined();
    expect(f(base256(5n))).toBe(5);
    expect(f(base256(1n << 40n))).toBe(2 ** 40);
    expect(f(base256(-1n))).toBe(-1);
    expect(f(base256(-1000n))).toBe(-1000);
    expect(f(base256(1n << 80n))).toBeUndefined();
  });
});
