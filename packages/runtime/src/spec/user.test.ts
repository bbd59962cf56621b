import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { readContainedFile, resolveInRoot } from './contained.js';
import { resolveUser } from './user.js';

// Alpine 3.20's files (abridged): root is listed in several groups.
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'bin:x:1:1:bin:/bin:/sbin/nologin',
  'daemon:x:2:2:daemon:/sbin:/sbin/nologin',
  'nobody:x:65534:65534:nobody:/:/sbin/nologin',
  'app:x:1000:1000:App User:/home/app:/bin/sh',
  '# a comment',
  'broken-line',
  '',
].join('\n');
const GROUP = [
  'root:x:0:root',
  'bin:x:1:root,bin,daemon',
  'daemon:x:2:root,bin,daemon',
  'wheel:x:10:root,app',
  'video:x:27:root',
  'staff:x:50:',
  'app:x:1000:',
  'nogroup:x:65533:',
  'nobody:x:65534:',
].join('\n');

let dir: string;
let rootfs: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-user-'));
  rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  writeFileSync(path.join(rootfs, 'etc/passwd'), PASSWD);
  writeFileSync(path.join(rootfs, 'etc/group'), GROUP);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveUser', () => {
  it('defaults to root with its supplementary groups and home (docker: alpine `id`)', () => {
    expect(resolveUser({ rootfs })).toEqual({ uid: 0, gid: 0, additionalGids: [0, 1, 2, 10, 27], home: '/root', name: 'root' });
    expect(resolveUser({ rootfs, user: '' })).toEqual(resolveUser({ rootfs }));
  });

  it('resolves a name to its uid, gid, home and groups', () => {
    expect(resolveUser({ rootfs, user: 'app' })).toEqual({ uid: 1000, gid: 1000, additionalGids: [10], home: '/home/app', name: 'app' });
  });

  it('resolves a numeric uid that has an entry like its name', () => {
    expect(resolveUser({ rootfs, user: '1000' })).toEqual(resolveUser({ rootfs, user: 'app' }));
  });

  it('allows a numeric uid without an entry: gid 0, home /', () => {
    expect(resolveUser({ rootfs, user: '4242' })).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: '/' });
  });

  it('uid:gid and name:group set the primary group and drop supplementary groups', () => {
    expect(resolveUser({ rootfs, user: '4242:4343' })).toEqual({ uid: 4242, gid: 4343, additionalGids: [], home: '/' });
    expect(resolveUser({ rootfs, user: 'app:staff' })).toMatchObject({ uid: 1000, gid: 50, additionalGids: [] });
    expect(resolveUser({ rootfs, user: 'root:video' })).toMatchObject({ uid: 0, gid: 27, additionalGids: [] });
    expect(resolveUser({ rootfs, user: 'app:27' })).toMatchObject({ uid: 1000, gid: 27 });
  });

  it('fails for an unknown name with docker text', () => {
    expect(() => resolveUser({ rootfs, user: 'foo' })).toThrow('unable to find user foo: no matching entries in passwd file');
    expect(() => resolveUser({ rootfs, user: 'app:nosuch' })).toThrow('unable to find group nosuch: no matching entries in group file');
    try {
      resolveUser({ rootfs, user: 'foo' });
    } catch (err) {
      expect(isBerthError(err, 'EINVAL_ARGUMENT')).toBe(true);
    }
  });

  it('rejects ids out of range and an empty group', () => {
    expect(() => resolveUser({ rootfs, user: '2147483648' })).toThrow(/out of range/);
    expect(() => resolveUser({ rootfs, user: 'app:' })).toThrow(/empty group/);
  });

  it('works without /etc/passwd and /etc/group (numeric ids only)', () => {
    rmSync(path.join(rootfs, 'etc'), { recursive: true });
    expect(resolveUser({ rootfs })).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/root' });
    expect(resolveUser({ rootfs, user: '5:6' })).toEqual({ uid: 5, gid: 6, additionalGids: [], home: '/' });
    expect(() => resolveUser({ rootfs, user: 'root' })).toThrow('unable to find user root: no matching entries in passwd file');
  });

  it('never reads a host passwd through an absolute symlink out of the rootfs', () => {
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'passwd'), 'hostonly:x:4242:4242::/home/hostonly:/bin/sh\n');
    rmSync(path.join(rootfs, 'etc/passwd'));
    symlinkSync(path.join(outside, 'passwd'), path.join(rootfs, 'etc/passwd'));
    expect(() => resolveUser({ rootfs, user: 'hostonly' })).toThrow('unable to find user hostonly: no matching entries in passwd file');
  });

  it('never reads a host passwd through a relative ../ symlink out of the rootfs', () => {
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'passwd'), 'hostonly:x:4242:4242::/home/hostonly:/bin/sh\n');
    rmSync(path.join(rootfs, 'etc/passwd'));
    symlinkSync('../../../../../../../../outside/passwd', path.join(rootfs, 'etc/passwd'));
    expect(() => resolveUser({ rootfs, user: 'hostonly' })).toThrow(/unable to find user hostonly/);
    // The same link, resolved as the container sees it, reaches <rootfs>/outside/passwd.
    mkdirSync(path.join(rootfs, 'outside'));
    writeFileSync(path.join(rootfs, 'outside/passwd'), 'inside:x:7:8::/in:/bin/sh\n');
    expect(resolveUser({ rootfs, user: 'inside' })).toMatchObject({ uid: 7, gid: 8, home: '/in' });
  });

  it('never reads the host /etc/passwd through a symlinked /etc directory', () => {
    rmSync(path.join(rootfs, 'etc'), { recursive: true });
    symlinkSync('/etc', path.join(rootfs, 'etc'));
    // The host has root in /etc/passwd; inside the rootfs, /etc → /etc is a link to itself.
    expect(() => resolveUser({ rootfs, user: 'root' })).toThrow(/too many levels of symbolic links/);
  });

  it('follows symlinks that stay inside the rootfs', () => {
    mkdirSync(path.join(rootfs, 'real'));
    writeFileSync(path.join(rootfs, 'real/passwd'), 'linked:x:9:9::/linked:/bin/sh\n');
    rmSync(path.join(rootfs, 'etc/passwd'));
    symlinkSync('/real/passwd', path.join(rootfs, 'etc/passwd'));
    expect(resolveUser({ rootfs, user: 'linked' })).toMatchObject({ uid: 9, gid: 9, home: '/linked' });
  });

  it('refuses a FIFO as /etc/passwd instead of blocking on it', () => {
    rmSync(path.join(rootfs, 'etc/passwd'));
    execFileSync('mkfifo', [path.join(rootfs, 'etc/passwd')]);
    expect(() => resolveUser({ rootfs, user: 'root' })).toThrow(/not a regular file/);
  });
});

describe('resolveInRoot', () => {
  it('clamps .. at the root and restarts absolute links at the root', () => {
    mkdirSync(path.join(rootfs, 'a/b'), { recursive: true });
    symlinkSync('/a', path.join(rootfs, 'abs'));
    symlinkSync('../../../..', path.join(rootfs, 'a/up'));
    expect(resolveInRoot(rootfs, '/../../etc/passwd')).toBe(path.join(rootfs, 'etc/passwd'));
    expect(resolveInRoot(rootfs, '/abs/b')).toBe(path.join(rootfs, 'a/b'));
    expect(resolveInRoot(rootfs, '/a/up/etc')).toBe(path.join(rootfs, 'etc'));
    expect(resolveInRoot(rootfs, 'missing/x/../y')).toBe(path.join(rootfs, 'missing/y'));
    expect(resolveInRoot(rootfs, '/')).toBe(rootfs);
  });

  it('stops symlink loops', () => {
    symlinkSync('/loop2', path.join(rootfs, 'loop1'));
    symlinkSync('/loop1', path.join(rootfs, 'loop2'));
    expect(() => resolveInRoot(rootfs, '/loop1/x')).toThrow(/too many levels of symbolic links/);
  });

  it('readContainedFile returns undefined for missing files and enforces the size limit', () => {
    expect(readContainedFile(rootfs, '/etc/shadow')).toBeUndefined();
    expect(readContainedFile(rootfs, '/etc/passwd')?.toString()).toBe(PASSWD);
    expect(() => readContainedFile(rootfs, '/etc/passwd', { maxBytes: 10 })).toThrow(/exceeds the 10-byte limit/);
  });
});
