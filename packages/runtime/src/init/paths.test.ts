import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LibcSyscalls } from '@berth/sys';
import { ensureMountPoint, insideRoot, mkdirAllInRoot, resolveInRoot } from './paths.js';
import { parseMountOptions } from './mountopts.js';
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_SLAVE } from '@berth/sys';

const sys = new LibcSyscalls();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-paths-'));
const root = path.join(tmp, 'root');
const outside = path.join(tmp, 'outside');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
fs.mkdirSync(outside);
fs.writeFileSync(path.join(outside, 'secret'), 'host');
fs.symlinkSync('/etc', path.join(root, 'abs'));
fs.symlinkSync('../../../../../../..', path.join(root, 'up'));
fs.symlinkSync(outside, path.join(root, 'host'));
fs.symlinkSync('loop2', path.join(root, 'loop1'));
fs.symlinkSync('loop1', path.join(root, 'loop2'));
fs.writeFileSync(path.join(root, 'file'), '');

describe('resolveInRoot (real directories)', () => {
  it('follows absolute symlinks inside the root', () => {
    expect(resolveInRoot(sys, root, '/abs/passwd')).toBe(path.join(root, 'etc/passwd'));
  });
  it('clamps .. and relative symlinks at the root', () => {
    expect(resolveInRoot(sys, root, '/../../etc')).toBe(path.join(root, 'etc'));
    expect(resolveInRoot(sys, root, '/up/etc')).toBe(path.join(root, 'etc'));
  });
  it('a symlink to a host path resolves under the root, not on the host', () => {
    expect(resolveInRoot(sys, root, '/host/secret')).toBe(path.join(root, outside.slice(1), 'secret'));
  });
  it('keeps missing components lexically (still clamped)', () => {
    expect(resolveInRoot(sys, root, '/new/a/../../../b')).toBe(path.join(root, 'b'));
  });
  it('refuses symlink loops', () => {
    expect(() => resolveInRoot(sys, root, '/loop1/x')).toThrow(/too many levels of symbolic links/);
  });
  it('goes on walking after a missing component, as securejoin: a later symlink is still resolved in the root', () => {
    expect(resolveInRoot(sys, root, '/missing/../abs/passwd')).toBe(path.join(root, 'etc/passwd'));
  });
  it('insideRoot maps host paths back', () => {
    expect(insideRoot(root, path.join(root, 'a/b'))).toBe('/a/b');
    expect(insideRoot(root, root)).toBe('/');
    expect(insideRoot(root, `${root}x/y`)).toBeUndefined();
  });
});

describe('mkdirAllInRoot / ensureMountPoint', () => {
  it('creates directories through an image symlink without leaving the root', () => {
    const made = mkdirAllInRoot(sys, root, '/host/made/deep');
    expect(made).toBe(path.join(root, outside.slice(1), 'made/deep'));
    expect(fs.statSync(made).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(outside, 'made'))).toBe(false);
  });
  it('creates an empty file mount point for a file bind', () => {
    const p = ensureMountPoint(sys, root, '/abs/hostname', true);
    expect(p).toBe(path.join(root, 'etc/hostname'));
    expect(fs.statSync(p).isFile()).toBe(true);
  });
  it('creates through a symlink named after a missing component and its ..', () => {
    const made = mkdirAllInRoot(sys, root, '/missing/../host/made2');
    expect(made).toBe(path.join(root, outside.slice(1), 'made2'));
    expect(fs.statSync(made).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(root, 'missing'))).toBe(false);
    expect(fs.existsSync(path.join(outside, 'made2'))).toBe(false);
  });
  it('refuses to create a directory below a file', () => {
    expect(() => mkdirAllInRoot(sys, root, '/file/sub')).toThrow(/is not a directory/);
  });
});

describe('parseMountOptions', () => {
  it('splits flags, propagation and data', () => {
    expect(parseMountOptions(['rbind', 'ro', 'nosuid', 'rslave'])).toEqual({
      flags: MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID,
      propagation: MS_SLAVE | MS_REC,
      data: null,
      readonly: true,
      bind: true,
    });
    expect(parseMountOptions(['nosuid', 'nodev', 'noexec', 'size=64m', 'mode=1777', 'private'])).toEqual({
      flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
      propagation: MS_PRIVATE,
      data: 'size=64m,mode=1777',
      readonly: false,
      bind: false,
    });
  });
  it('later options win (ro then rw)', () => {
    expect(parseMountOptions(['ro', 'rw']).readonly).toBe(false);
  });
});
