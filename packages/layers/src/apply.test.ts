import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BerthError, Digest } from '@berth/oci';
import {
  buildLayer,
  buildTar,
  CAPABILITY_XATTR,
  compress,
  LAYER_MEDIA_TYPE,
  LONG_NAME_150,
  LONG_NAME_300,
  snapshotTree,
  UNICODE_NAMES,
  type EntrySpec,
} from '../../../fixtures/layers/index.js';
import { applyLayer } from './apply.js';
import { useApplySandbox } from './test-support/apply-sandbox.js';

const isRoot = process.getuid?.() === 0;

const sandbox = useApplySandbox();
const { apply, applyFixture, expectFixtureError, at, read, mode } = sandbox;

describe('applyLayer containment', () => {
  it('keeps "../" names inside the root', async () => {
    await applyFixture('dotdotEscape');
    expect(read('escape.txt')).toBe('dotdot');
    expect(read('escape-deep.txt')).toBe('deep');
    expect(read('escape-mid.txt')).toBe('mid');
    expect(read('escape-dir/inner.txt')).toBe('inner');
  });

  it('strips the leading "/" of absolute names', async () => {
    await applyFixture('absolutePaths');
    expect(read('abs-file.txt')).toBe('abs');
    expect(read('double/slash.txt')).toBe('double');
    expect(read('etc/abs-passwd')).toContain('root:x:0:0');
  });

  it('writes through an absolute symlink planted by a lower layer inside the root', async () => {
    await applyFixture('symlinkAbsWriteThrough');
    expect(readlinkSync(at('link'))).toBe(sandbox.box.outside);
    expect(read(sandbox.box.outside, 'pwned.txt')).toBe('pwned');
  });

  it('writes through a relative ../.. symlink inside the root', async () => {
    await applyFixture('symlinkRelWriteThrough');
    expect(read(sandbox.box.outside, 'pwned.txt')).toBe('pwned');
  });

  it('clamps a ../../.. symlink at the root', async () => {
    await applyFixture('symlinkDotDotChain');
    expect(read('pwned.txt')).toBe('pwned');
  });

  it('contains a symlink planted and used in the same layer', async () => {
    await applyFixture('symlinkSameLayer');
    expect(read(sandbox.box.outside, 'pwned.txt')).toBe('pwned');
  });

  it('replaces a symlink with a file instead of writing through it', async () => {
    await applyFixture('symlinkFinalComponent');
    expect(lstatSync(at('f')).isFile()).toBe(true);
    expect(read('f')).toBe('replaced');
  });

  it('replaces a symlink with a directory instead of chmod-ing its target', async () => {
    await applyFixture('symlinkThenDirEntry');
    expect(lstatSync(at('d')).isDirectory()).toBe(true);
    expect(mode('d')).toBe(0o777);
  });

  it('never chmods or chowns through a symlink', async () => {
    await applyFixture('symlinkThenMetadataFile');
    expect(lstatSync(at('s')).isFile()).toBe(true);
    expect(mode('s')).toBe(0o4777);
  });

  it('refuses a hardlink to /etc/passwd when the root has none (and the host file is untouched)', async () => {
    await expectFixtureError('hardlinkEtcPasswd', 'ELAYER', /entry "passwd": hardlink target "\/etc\/passwd" does not exist/);
  });

  it('links a hardlink to /etc/passwd to the root\'s own etc/passwd', async () => {
    await applyFixture('hardlinkEtcPasswdInRoot');
    expect(statSync(at('p')).ino).toBe(statSync(at('etc/passwd')).ino);
    expect(statSync(at('p')).nlink).toBe(2);
  });

  it('resolves a hardlink to ../../x inside the root, or fails', async () => {
    await expectFixtureError('hardlinkDotDot', 'ELAYER', /entry "h": hardlink target "..\/..\/x" does not exist/);
  });

  it('links a hardlink to ../../x to the root\'s x', async () => {
    await applyFixture('hardlinkDotDotInRoot');
    expect(statSync(at('h')).ino).toBe(statSync(at('x')).ino);
  });

  it('resolves a hardlink target through a planted symlink inside the root', async () => {
    await expectFixtureError('hardlinkThroughSymlink', 'ELAYER', /entry "h": hardlink target "l\/canary.txt" does not exist/);
  });

  it('hardlinks a symlink itself, never its (outside) target', async () => {
    await applyFixture('hardlinkToOutsideSymlink');
    const h = lstatSync(at('h'));
    expect(h.isSymbolicLink()).toBe(true);
    expect(h.ino).toBe(lstatSync(at('l')).ino);
    expect(h.nlink).toBe(2);
  });

  it('refuses a hardlink to the root directory', async () => {
    await expectFixtureError('hardlinkToRoot', 'EUNSAFE_PATH', /entry "h": hardlink to the root directory/);
  });

  it('refuses a hardlink to a directory', async () => {
    await expectFixtureError('hardlinkToDirectory', 'EUNSAFE_PATH', /entry "h": hardlink target "d" is a directory/);
  });

  it.each([
    ['rootAsFile', /entry "\/": refusing to replace the root directory with a file/],
    ['dotAsSymlink', /entry ".": refusing to replace the root directory with a symlink/],
    ['dotSlashAsHardlink', /entry ".\/": refusing to replace the root directory with a hardlink/],
  ] as const)('refuses %s', async (name, re) => {
    await expectFixtureError(name, 'EUNSAFE_PATH', re);
    expect(lstatSync(sandbox.box.root).isDirectory()).toBe(true);
  });

  it('applies a "./" directory entry to the root\'s metadata', async () => {
    await applyFixture('rootDirEntry');
    expect(lstatSync(sandbox.box.root).mode & 0o7777).toBe(0o751);
    expect(read('file')).toBe('f');
  });

  it.each([
    ['symlinkLoop', /entry "a\/x": too many levels of symbolic links \(ELOOP\)/],
    ['symlinkSelfLoop', /entry "loop\/x": too many levels of symbolic links \(ELOOP\)/],
    ['symlinkLongChain', /entry "l0\/x": too many levels of symbolic links \(ELOOP\)/],
  ] as const)('fails cleanly on %s', async (name, re) => {
    await expectFixtureError(name, 'EUNSAFE_PATH', re);
  });

  it('follows a chain of 20 symlinks', async () => {
    await applyFixture('symlinkShortChain');
    expect(read('real/x')).toBe('through the chain');
  });

  it('creates missing parent directories inside the root, even through a dangling absolute symlink', async () => {
    await apply([{ path: 'dangling', type: 'symlink', linkname: '/made/by/layer' }]);
    await apply([{ path: 'deep/er/file', content: 'p' }, { path: 'dangling/x', content: 'x' }]);
    expect(read('deep/er/file')).toBe('p');
    expect(mode('deep')).toBe(0o755);
    expect(read('made/by/layer/x')).toBe('x');
  });

  it('makes no directory that a symlink target leaves again with ..', async () => {
    await apply([{ path: 'l', type: 'symlink', linkname: 'nope/../d' }]);
    await apply([{ path: 'l/f', content: 'f' }]);
    expect(read('d/f')).toBe('f');
    expect(readdirSync(sandbox.box.root).sort()).toEqual(['d', 'l']);
  });

  it('refuses a path that needs a file as a directory', async () => {
    await apply([{ path: 'plain', content: 'f' }]);
    const err = await apply([{ path: 'plain/child', content: 'c' }]).catch((e: unknown) => e);
    expect((err as BerthError).message).toMatch(/entry "plain\/child": parent "plain" is not a directory/);
  });

  it('refuses whiteout names used as directories but ignores AUFS bookkeeping', async () => {
    const err = await apply([{ path: '.wh.x/y', content: 'y' }]).catch((e: unknown) => e);
    expect((err as BerthError).message).toMatch(/whiteout name ".wh.x" used as a directory/);
    await applyFixture('aufsMeta');
    expect(readdirSync(sandbox.box.root)).toEqual(['real']);
  });
});

describe('applyLayer whiteouts', () => {
  it('removes a lower file', async () => {
    await applyFixture('whiteoutFile');
    expect(readdirSync(at('a'))).toEqual(['keep']);
  });

  it('removes a lower directory recursively', async () => {
    await applyFixture('whiteoutDir');
    expect(readdirSync(sandbox.box.root)).toEqual(['other']);
  });

  it('never removes what the same layer wrote, whatever the order', async () => {
    await applyFixture('whiteoutAfterSameLayerEntry');
    expect(read('f')).toBe('upper');
    sandbox.fresh();
    await applyFixture('whiteoutBeforeSameLayerEntry');
    expect(read('f')).toBe('upper');
  });

  it('removes only lower children of a directory this layer wrote into', async () => {
    await applyFixture('whiteoutDirWithUpperChild');
    expect(readdirSync(at('d'))).toEqual(['new']);
    // d is a lower directory: the removal inside it does not change its mtime
    expect(lstatSync(at('d')).mtimeMs).toBe(1_700_000_000_000);
  });

  it.each(['opaqueBefore', 'opaqueAfter'] as const)('handles %s: lower content gone, directory and new entries kept', async (name) => {
    await applyFixture(name);
    expect(mode('d')).toBe(0o750);
    const expected = name === 'opaqueBefore' ? ['new'] : ['new', 'sub'];
    expect(readdirSync(at('d')).sort()).toEqual(expected);
    if (name === 'opaqueAfter') {
      expect(readdirSync(at('d/sub'))).toEqual(['fresh']);
      // d/sub's time is the layer's even though the opaque marker came after it
      expect(lstatSync(at('d/sub')).mtimeMs).toBe(1_700_000_000_000);
    }
  });

  it('empties an opaque directory with no new content', async () => {
    await applyFixture('opaqueOnly');
    expect(readdirSync(at('d'))).toEqual([]);
  });

  it('matches the opaque marker before the generic .wh. prefix', async () => {
    await applyFixture('opaqueNotCaughtByPrefix');
    // As an opaque marker, the whole lower content goes. Read as ".wh." + ".wh..opq" it would
    // only have removed the file named ".wh..opq" and left "old".
    expect(readdirSync(at('d'))).toEqual([]);
    expect(lstatSync(at('d')).isDirectory()).toBe(true);
  });

  it.each([
    ['whiteoutEmpty', /entry ".wh.": invalid whiteout ".wh."/],
    ['whiteoutDot', /entry "a\/.wh..": invalid whiteout ".wh.."/],
    ['whiteoutDotDot', /entry "a\/b\/.wh...": invalid whiteout ".wh..."/],
  ] as const)('refuses %s', async (name, re) => {
    await expectFixtureError(name, 'ELAYER', re);
    expect(read('x')).toBe('x');
  });

  it('resolves the whiteout directory through symlinks inside the root', async () => {
    await applyFixture('whiteoutThroughSymlink');
    expect(readdirSync(at('real'))).toEqual(['keep']);
  });

  it('never removes host files through an outside-pointing symlink', async () => {
    await applyFixture('whiteoutThroughOutsideSymlink');
    // sandbox.box.check() in afterEach verifies the canary directory is intact.
    expect(readlinkSync(at('link'))).toBe(sandbox.box.outside);
  });

  it('ignores whiteouts of names that do not exist', async () => {
    await applyFixture('whiteoutMissing');
    expect(readdirSync(sandbox.box.root)).toEqual(['a']);
  });

  it('replaces a directory by a file, a file by a directory, a directory by a symlink', async () => {
    await applyFixture('dirReplacedByFile');
    expect(read('p')).toBe('now a file');
    await applyFixture('fileReplacedByDir');
    expect(mode('q')).toBe(0o700);
    expect(read('q/x')).toBe('x');
    await applyFixture('dirReplacedBySymlink');
    expect(readlinkSync(at('r'))).toBe('elsewhere');
  });

  it('updates a directory over a directory: metadata replaced, contents kept', async () => {
    await applyFixture('dirOverDir');
    const st = lstatSync(at('s'));
    expect(st.mode & 0o7777).toBe(0o710);
    expect(st.mtimeMs).toBe(1_600_000_000_000);
    if (isRoot) expect([st.uid, st.gid]).toEqual([2, 3]);
    expect(read('s/child')).toBe('kept');
    const x = snapshotTree(sandbox.box.root).s?.xattrs;
    expect(x).toEqual({ 'user.upper': Buffer.from('u').toString('hex') });
  });
});

describe('applyLayer entry types', () => {
  it('creates files, directories, links, devices and fifos with modes, owners and times', async () => {
    await applyFixture('allTypes');
    const t = snapshotTree(sandbox.box.root);
    expect(t['bin/busybox']).toMatchObject({ type: 'file', mode: '755', size: 14, mtimeNs: '1700000000000000000' });
    expect(t['bin/sh']?.group).toBe('bin/busybox,bin/ls,bin/sh');
    expect(t['bin/link']).toMatchObject({ type: 'symlink', link: 'busybox', mtimeNs: '1700000000000000000' });
    expect(t['bin/dangling']).toMatchObject({ type: 'symlink', link: '/does/not/exist' });
    expect(t['run/fifo']).toMatchObject({ type: 'fifo', mode: '620' });
    expect(t['usr/bin/su']?.mode).toBe('4755');
    expect(t['usr/bin/wall']?.mode).toBe('2755');
    expect(t['usr/bin/both']?.mode).toBe('6711');
    expect(t.tmp?.mode).toBe('1777');
    expect(t['home/user/file']).toMatchObject({ mode: '600', mtimeNs: '1234567890000000000' });
    expect(t['home/user/link']?.mtimeNs).toBe('1111111111000000000');
    expect(t['big.bin']?.size).toBe(300_000);
    expect(t.empty?.size).toBe(0);
    if (isRoot) {
      expect(t['dev/null']).toMatchObject({ type: 'char', mode: '666', dev: String((1 << 8) | 3) });
      expect(t['dev/loop0']).toMatchObject({ type: 'block', gid: 6, dev: String(7 << 8) });
      const big = lstatSync(at('dev/big'));
      // major 300, minor 70000 in Linux's dev_t layout
      expect(big.rdev).toBe(((70000 & 0xff) | ((300 & 0xfff) << 8) | ((70000 & ~0xff) << 12)) >>> 0);
      expect(t['home/user/file']).toMatchObject({ uid: 1000, gid: 1000 });
      expect(t['home/user/link']).toMatchObject({ uid: 1000, gid: 1000 });
      expect(t['usr/bin/wall']?.gid).toBe(5);
    }
  });

  it('keeps directory mtimes from the layer and restores lower directory mtimes', async () => {
    await apply([{ path: 'lower/', type: 'dir', mtime: 1_500_000_000 }, { path: 'lower/a', content: 'a' }]);
    await apply([
      { path: 'upper/', type: 'dir', mtime: 1_400_000_000 },
      { path: 'upper/x', content: 'x' },
      { path: 'lower/b', content: 'b' },
      { path: 'lower/.wh.a', content: '' },
    ]);
    expect(lstatSync(at('upper')).mtimeMs).toBe(1_400_000_000_000);
    expect(lstatSync(at('lower')).mtimeMs).toBe(1_500_000_000_000);
    expect(readdirSync(at('lower'))).toEqual(['b']);
  });

  it('links across layers', async () => {
    await applyFixture('crossLayerHardlink');
    expect(statSync(at('bin/sh')).ino).toBe(statSync(at('bin/busybox')).ino);
  });

  it('sets xattrs byte for byte (security.capability included), drops security.selinux and trusted.*', async () => {
    await applyFixture('xattrs');
    const t = snapshotTree(sandbox.box.root);
    expect(t.ping?.xattrs['security.capability']).toBe(CAPABILITY_XATTR.toString('hex'));
    expect(t.text?.xattrs).toEqual({ 'user.binary': '0001feff', 'user.comment': Buffer.from('hello').toString('hex') });
    expect(t.labelled?.xattrs['user.kept']).toBe(Buffer.from('k').toString('hex'));
    expect(t.labelled?.xattrs['security.selinux']).toBeUndefined();
    expect(t.trusted?.xattrs).toEqual({});
    expect(t.xdir?.xattrs).toEqual({ 'user.dir': Buffer.from('d').toString('hex') });
    expect(t.ping?.mode).toBe('755');
  });

  it('handles long and unicode names', async () => {
    await applyFixture('longNames');
    expect(read(LONG_NAME_150)).toBe('long 150');
    expect(read(LONG_NAME_300)).toBe('long 300');
    expect(readlinkSync(at('longlink'))).toBe(`/${'t'.repeat(200)}/target`);
    expect(statSync(at('longhard')).ino).toBe(statSync(at(LONG_NAME_300)).ino);
    await applyFixture('unicodeNames');
    for (const n of UNICODE_NAMES) expect(read(n)).toBe(n);
  });

  it('sets PAX nanosecond and negative mtimes exactly', async () => {
    await applyFixture('paxMtime');
    expect(lstatSync(at('frac'), { bigint: true }).mtimeNs).toBe(1_700_000_000_123_456_789n);
    expect(lstatSync(at('neg'), { bigint: true }).mtimeNs).toBe(-86_400_500_000_000n);
  });

  it('replaces a lower file without touching other hardlinks to it', async () => {
    await apply([{ path: 'a', content: 'shared' }, { path: 'b', type: 'hardlink', linkname: 'a' }]);
    await apply([{ path: 'a', content: 'new' }]);
    expect(read('a')).toBe('new');
    expect(read('b')).toBe('shared');
  });

  it('ignores PAX global headers (no renamed entries)', async () => {
    await applyFixture('globalPaxPath');
    expect(readdirSync(sandbox.box.root).sort()).toEqual(['first', 'second', 'third']);
    expect(readlinkSync(at('third'))).toBe('first');
  });

  it.skipIf(isRoot)('leaves ownership alone when not root', async () => {
    await apply([{ path: 'f', content: 'f', uid: 1234, gid: 1234 }]);
    expect(lstatSync(at('f')).uid).toBe(process.getuid?.());
  });

  it('can be told not to preserve ownership', async () => {
    const blob = await buildLayer([{ path: 'f', content: 'f', uid: 1234, gid: 4321 }]);
    await applyLayer({ root: sandbox.box.root, source: Readable.from([blob]), mediaType: LAYER_MEDIA_TYPE.none, preserveOwnership: false });
    expect(lstatSync(at('f')).uid).toBe(process.getuid?.());
  });
});

describe('applyLayer input verification', () => {
  it.each(['none', 'gzip', 'zstd'] as const)('applies %s layers and reports entries, bytes and the diffID', async (compression) => {
    const entries: EntrySpec[] = [{ path: 'd/', type: 'dir' }, { path: 'd/f', content: 'hello' }];
    const tar = await buildTar(entries);
    const blob = compress(tar, compression);
    const res = await applyLayer({
      root: sandbox.box.root,
      source: Readable.from([blob]),
      mediaType: LAYER_MEDIA_TYPE[compression],
      digest: Digest.of(blob),
      diffId: Digest.of(tar).toString(),
    });
    expect(res).toMatchObject({ entries: 2, bytes: tar.length });
    expect(res.diffId.toString()).toBe(Digest.of(tar).toString());
    expect(read('d/f')).toBe('hello');
  });

  it('accepts the Docker and non-distributable media types', async () => {
    const tar = await buildTar([{ path: 'x', content: 'x' }]);
    for (const [mt, blob] of [
      ['application/vnd.docker.image.rootfs.diff.tar.gzip', gzipSync(tar)],
      ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', gzipSync(tar)],
      ['application/vnd.docker.image.rootfs.diff.tar', tar],
    ] as const) {
      const res = await applyLayer({ root: sandbox.box.root, source: Readable.from([blob]), mediaType: mt });
      expect(res.entries).toBe(1);
    }
  });

  it('refuses an unknown media type', async () => {
    const err = await applyLayer({ root: sandbox.box.root, source: Readable.from([Buffer.alloc(0)]), mediaType: 'application/x-rar', name: 'L1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EUNSUPPORTED', message: 'apply layer L1: unsupported layer media type "application/x-rar"' });
  });

  it('verifies the blob digest and the diffID only after draining trailing bytes', async () => {
    const tar = await buildTar([{ path: 'x', content: 'x' }], { trailing: Buffer.alloc(4096) });
    const blob = gzipSync(tar);
    // Both digests cover the trailing zeros after the end-of-archive marker.
    const ok = await applyLayer({ root: sandbox.box.root, source: Readable.from([blob]), mediaType: LAYER_MEDIA_TYPE.gzip, digest: Digest.of(blob), diffId: Digest.of(tar) });
    expect(ok.bytes).toBe(tar.length);
    const shortTar = tar.subarray(0, tar.length - 4096);
    const err = await applyLayer({ root: sandbox.box.root, source: Readable.from([blob]), mediaType: LAYER_MEDIA_TYPE.gzip, diffId: Digest.of(shortTar) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDIGEST_MISMATCH' });
    expect((err as Error).message).toMatch(/^apply layer sha256:[0-9a-f]{12}…: diffID mismatch, got sha256:/);
  });

  it('fails on a wrong blob digest, naming the layer', async () => {
    const blob = await buildLayer([{ path: 'x', content: 'x' }], { compression: 'gzip' });
    const wrong = Digest.of('something else');
    const err = await applyLayer({ root: sandbox.box.root, source: Readable.from([blob]), mediaType: LAYER_MEDIA_TYPE.gzip, digest: wrong }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDIGEST_MISMATCH' });
    expect((err as Error).message).toBe(`apply layer sha256:${wrong.hex.slice(0, 12)}…: blob digest mismatch, got ${Digest.of(blob)}`);
  });

  it('fails on corrupt compression and on a truncated tar', async () => {
    const blob = await buildLayer([{ path: 'x', content: 'x'.repeat(5000) }], { compression: 'gzip' });
    const corrupt = Buffer.from(blob);
    corrupt[0] = 0;
    let err = await applyLayer({ root: sandbox.box.root, source: Readable.from([corrupt]), mediaType: LAYER_MEDIA_TYPE.gzip, name: 'c' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ELAYER', message: 'apply layer c: decompress gzip: incorrect header check' });
    const tar = await buildTar([{ path: 'x', content: 'x'.repeat(5000) }]);
    err = await applyLayer({ root: sandbox.box.root, source: Readable.from([tar.subarray(0, 3000)]), mediaType: LAYER_MEDIA_TYPE.none, name: 't' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ELAYER', message: 'apply layer t: entry "x": unexpected end of tar stream' });
  });

  it('propagates a failing source stream', async () => {
    const source = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    const err = await applyLayer({ root: sandbox.box.root, source, mediaType: LAYER_MEDIA_TYPE.gzip, name: 's' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ELAYER', message: 'apply layer s: connection reset' });
  });

  it('enforces path depth and other limits, naming the entry', async () => {
    const deep = `${'d/'.repeat(40)}f`;
    let err = await apply([{ path: deep, content: 'x' }], { limits: { maxPathDepth: 20 }, name: 'deep' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ETOO_LARGE' });
    expect((err as Error).message).toBe(`apply layer deep: entry "${deep}": path deeper than 20 components`);
    err = await apply([{ path: 'a', content: 'a' }, { path: 'b', content: 'b' }], { limits: { maxEntries: 1 } }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/entry "b": more than 1 entries/);
    err = await apply([{ path: 'a', content: 'a' }], { limits: { maxEntries: -1 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EINVAL_ARGUMENT' });
  });

  it('refuses a root that is not a directory', async () => {
    writeFileSync(path.join(sandbox.box.root, 'file'), 'x');
    const err = await applyLayer({ root: path.join(sandbox.box.root, 'file'), source: Readable.from([Buffer.alloc(1024)]), mediaType: LAYER_MEDIA_TYPE.none, name: 'r' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EINVAL_ARGUMENT' });
    expect((err as Error).message).toMatch(/^apply layer r: root ".*file": not a directory$/);
  });

  it('applies onto a root reached through a symlink', async () => {
    mkdirSync(path.join(sandbox.box.root, 'real'));
    symlinkSync('real', path.join(sandbox.box.root, 'alias'));
    const blob = await buildLayer([{ path: 'f', content: 'f' }]);
    await applyLayer({ root: path.join(sandbox.box.root, 'alias'), source: Readable.from([blob]), mediaType: LAYER_MEDIA_TYPE.none });
    expect(existsSync(path.join(sandbox.box.root, 'real', 'f'))).toBe(true);
  });
});
