import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirInRoot, resolveInRoot } from './root.js';

let tmp: string;
let root: string;

beforeEach(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'berth-build-root-'));
  root = path.join(tmp, 'root');
  mkdirSync(path.join(root, 'var/srv'), { recursive: true });
  symlinkSync('/var/srv', path.join(root, 'srv'));
  symlinkSync('../../../../..', path.join(root, 'escape'));
  writeFileSync(path.join(root, 'file'), '');
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('resolveInRoot (build)', () => {
  it('resolves image symlinks inside the root, also after a missing component and its ..', () => {
    expect(resolveInRoot(root, '/srv/app')).toBe(path.join(root, 'var/srv/app'));
    expect(resolveInRoot(root, '/escape/../../etc')).toBe(path.join(root, 'etc'));
    expect(resolveInRoot(root, '/nope/../srv')).toBe(path.join(root, 'var/srv'));
  });
});

describe('mkdirInRoot', () => {
  it('creates missing directories (0755) where the image symlinks say, inside the root', () => {
    const made = mkdirInRoot(root, '/escape/opt/app');
    expect(made).toBe(path.join(root, 'opt/app'));
    expect(statSync(made).mode & 0o7777).toBe(0o755);
    expect(existsSync(path.join(tmp, 'opt'))).toBe(false);
  });

  it('creates through a symlink named after a missing component and its ..', () => {
    const made = mkdirInRoot(root, '/nope/../srv/sub');
    expect(made).toBe(path.join(root, 'var/srv/sub'));
    expect(statSync(made).isDirectory()).toBe(true);
    expect(lstatSync(path.join(root, 'srv')).isSymbolicLink()).toBe(true);
    expect(existsSync(path.join(root, 'nope'))).toBe(false);
  });

  it('refuses a directory below a file', () => {
    expect(() => mkdirInRoot(root, '/file/sub')).toThrow('create directory /file/sub: file exists and is not a directory');
  });
});
