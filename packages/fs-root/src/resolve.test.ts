import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { insideRoot, MAX_SYMLINKS, resolveInRoot, type NodeKind, type RootFs } from './index.js';

// The union of the tests the four walks had (runtime spec/contained, runtime
// init/paths, build fsutil/root, layers apply), on one real tree, plus the
// hostile cases. `outside` is a sibling of the root: nothing may reach it.
let tmp: string;
let root: string;
let outside: string;

beforeEach(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'berth-fs-root-'));
  root = path.join(tmp, 'root');
  outside = path.join(tmp, 'outside');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  mkdirSync(path.join(root, 'a/b'), { recursive: true });
  mkdirSync(path.join(root, 'var/srv'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(path.join(root, 'file'), '');
  writeFileSync(path.join(outside, 'secret'), 'host');
  symlinkSync('/etc', path.join(root, 'abs'));
  symlinkSync('/a', path.join(root, 'absa'));
  symlinkSync('../../../..', path.join(root, 'a/up'));
  symlinkSync('../../../../../../..', path.join(root, 'up'));
  symlinkSync(outside, path.join(root, 'host'));
  symlinkSync('/var/srv', path.join(root, 'srv'));
  symlinkSync('../../../../..', path.join(root, 'escape'));
  symlinkSync('loop2', path.join(root, 'loop1'));
  symlinkSync('loop1', path.join(root, 'loop2'));
  symlinkSync('self', path.join(root, 'self'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const at = (rel: string): string => path.join(root, rel);

/** A chain l0 -> l1 -> ... -> l{n-1} -> /real inside the root. */
function chain(n: number): void {
  mkdirSync(at('real'));
  for (let i = 0; i < n; i++) symlinkSync(i === n - 1 ? '/real' : `l${i + 1}`, at(`l${i}`));
}

describe('resolveInRoot: lexical (securejoin)', () => {
  it('returns the root for /, "", . and ..', () => {
    for (const p of ['/', '', '.', '..', '/../..']) expect(resolveInRoot(root, p)).toBe(root);
  });

  it('clamps .. at the root', () => {
    expect(resolveInRoot(root, '/../../etc/passwd')).toBe(at('etc/passwd'));
    expect(resolveInRoot(root, '../../../etc')).toBe(at('etc'));
    expect(resolveInRoot(root, 'a/b/../../../../etc')).toBe(at('etc'));
  });

  it('restarts absolute symlinks at the root (a link to /etc is the root\'s etc)', () => {
    expect(resolveInRoot(root, '/abs/passwd')).toBe(at('etc/passwd'));
    expect(resolveInRoot(root, '/absa/b')).toBe(at('a/b'));
    expect(resolveInRoot(root, '/srv')).toBe(at('var/srv'));
  });

  it('resolves relative symlinks from their own directory and clamps their .. at the root', () => {
    expect(resolveInRoot(root, '/a/up/etc')).toBe(at('etc'));
    expect(resolveInRoot(root, '/up/etc')).toBe(at('etc'));
    expect(resolveInRoot(root, '/escape/../../etc')).toBe(at('etc'));
    symlinkSync('../b', at('a/b/sib'));
    expect(resolveInRoot(root, '/a/b/sib')).toBe(at('a/b'));
  });

  it('a symlink to a host path resolves under the root, never on the host', () => {
    expect(resolveInRoot(root, '/host/secret')).toBe(path.join(root, outside.slice(1), 'secret'));
  });

  it('follows a symlink in the final component', () => {
    expect(resolveInRoot(root, '/abs')).toBe(at('etc'));
    symlinkSync('/etc/passwd', at('pw'));
    expect(resolveInRoot(root, '/pw')).toBe(at('etc/passwd'));
  });

  it('keeps missing components as plain names, still clamped', () => {
    expect(resolveInRoot(root, 'missing/x/../y')).toBe(at('missing/y'));
    expect(resolveInRoot(root, '/new/a/../../../b')).toBe(at('b'));
    expect(resolveInRoot(root, '/abs/nope/deeper')).toBe(at('etc/nope/deeper'));
  });

  it('goes on walking after a missing component: a later existing symlink is followed (securejoin)', () => {
    expect(resolveInRoot(root, '/missing/../abs/passwd')).toBe(at('etc/passwd'));
    expect(resolveInRoot(root, '/missing/../host/made')).toBe(path.join(root, outside.slice(1), 'made'));
  });

  it('treats a component below a regular file as missing (ENOTDIR)', () => {
    expect(resolveInRoot(root, '/file/x')).toBe(at('file/x'));
    expect(resolveInRoot(root, '/file/x/../../abs')).toBe(at('etc'));
  });

  it('a dangling symlink resolves to where its target would be', () => {
    symlinkSync('/made/by/layer', at('dangling'));
    expect(resolveInRoot(root, '/dangling/x')).toBe(at('made/by/layer/x'));
  });

  it('accepts a root with a trailing slash or dots, and / as the root', () => {
    expect(resolveInRoot(`${root}/`, '/abs')).toBe(at('etc'));
    expect(resolveInRoot(`${root}/./a/..`, '/abs')).toBe(at('etc'));
    expect(resolveInRoot('/', '/a/../tmp')).toBe('/tmp');
  });

  it('refuses symlink loops with ELOOP', () => {
    for (const p of ['/loop1/x', '/self', '/self/x']) {
      const err = (() => {
        try {
          resolveInRoot(root, p);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('EUNSAFE_PATH');
      expect((err as BerthError).message).toMatch(/^too many levels of symbolic links \(ELOOP\)/);
      expect((err as BerthError).details['errno']).toBe('ELOOP');
    }
  });

  it('follows a chain of 255 symlinks (the limit) and refuses 256', () => {
    expect(MAX_SYMLINKS).toBe(255);
    chain(255);
    expect(resolveInRoot(root, '/l0/x')).toBe(at('real/x'));
    rmSync(at('real'), { recursive: true });
    for (const name of readdirSync(root)) if (/^l\d+$/.test(name)) rmSync(at(name));
    chain(256);
    expect(() => resolveInRoot(root, '/l0/x')).toThrow(/too many levels of symbolic links \(ELOOP\)/);
  });

  it('never leaves the root, whatever the path (fuzz over the tree\'s links)', () => {
    const parts = ['..', '.', 'a', 'b', 'up', 'abs', 'absa', 'host', 'escape', 'srv', 'missing', 'file', 'etc', ''];
    let seed = 7;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      const n = 1 + (next() % 7);
      const p = Array.from({ length: n }, () => parts[next() % parts.length]).join('/');
      const host = resolveInRoot(root, p);
      expect(insideRoot(root, host), p).toBeDefined();
    }
  });
});

describe("resolveInRoot: missing 'undefined' (an existing directory)", () => {
  it('resolves existing directories through links', () => {
    expect(resolveInRoot(root, 'abs', { missing: 'undefined' })).toBe(at('etc'));
    expect(resolveInRoot(root, 'a/up/srv', { missing: 'undefined' })).toBe(at('var/srv'));
    expect(resolveInRoot(root, '', { missing: 'undefined' })).toBe(root);
  });

  it('returns undefined for a missing component or a non-directory', () => {
    expect(resolveInRoot(root, 'missing', { missing: 'undefined' })).toBeUndefined();
    expect(resolveInRoot(root, 'missing/../etc', { missing: 'undefined' })).toBeUndefined();
    expect(resolveInRoot(root, 'file', { missing: 'undefined' })).toBeUndefined();
    expect(resolveInRoot(root, 'etc/passwd', { missing: 'undefined' })).toBeUndefined();
    expect(resolveInRoot(root, 'host', { missing: 'undefined' })).toBeUndefined();
  });
});

describe("resolveInRoot: missing 'create'", () => {
  const made: string[] = [];
  const mkdir = (host: string, rel: string): void => {
    made.push(rel);
    mkdirSync(host, 0o755);
  };
  beforeEach(() => {
    made.length = 0;
  });

  it('creates directories through an image symlink without leaving the root', () => {
    const p = resolveInRoot(root, '/host/made/deep', { missing: 'create', mkdir });
    expect(p).toBe(path.join(root, outside.slice(1), 'made/deep'));
    expect(statSync(p).isDirectory()).toBe(true);
    expect(existsSync(path.join(outside, 'made'))).toBe(false);
    expect(made.at(-1)).toBe(`${outside.slice(1)}/made/deep`);
  });

  it('creates the target of a dangling absolute symlink inside the root', () => {
    symlinkSync('/made/by/layer', at('dangling'));
    expect(resolveInRoot(root, 'dangling/x', { missing: 'create', mkdir })).toBe(at('made/by/layer/x'));
    expect(made).toEqual(['made', 'made/by', 'made/by/layer', 'made/by/layer/x']);
    expect(lstatSync(at('dangling')).isSymbolicLink()).toBe(true);
  });

  it('creates through ../../.. and clamps at the root', () => {
    expect(resolveInRoot(root, '/escape/tmp/x', { missing: 'create', mkdir })).toBe(at('tmp/x'));
    expect(made).toEqual(['tmp', 'tmp/x']);
  });

  it('makes no directory that a later .. leaves again', () => {
    expect(resolveInRoot(root, '/missing/../srv/sub', { missing: 'create', mkdir })).toBe(at('var/srv/sub'));
    expect(made).toEqual(['var/srv/sub']);
    expect(existsSync(at('missing'))).toBe(false);
    expect(resolveInRoot(root, '/n1/n2/../n3', { missing: 'create', mkdir })).toBe(at('n1/n3'));
    expect(made).toEqual(['var/srv/sub', 'n1', 'n1/n3']);
  });

  it('creates nothing for an existing directory', () => {
    expect(resolveInRoot(root, '/srv', { missing: 'create', mkdir })).toBe(at('var/srv'));
    expect(made).toEqual([]);
  });

  it('refuses a directory below a file: ENOTDIR, or the caller\'s error', () => {
    expect(() => resolveInRoot(root, '/file/sub', { missing: 'create', mkdir })).toThrow(/\/file is not a directory/);
    expect(() =>
      resolveInRoot(root, '/file/sub', { missing: 'create', mkdir, notDirectory: (rel) => new BerthError('ELAYER', `parent "${rel}" is not a directory`) }),
    ).toThrow('parent "file" is not a directory');
    expect(made).toEqual([]);
    expect(existsSync(at('file/sub'))).toBe(false);
  });

  it('refuses loops before creating anything', () => {
    expect(() => resolveInRoot(root, '/loop1/x', { missing: 'create', mkdir })).toThrow(/ELOOP/);
    expect(made).toEqual([]);
  });
});

describe('resolveInRoot with an injected fs', () => {
  /** A tiny in-memory tree: path → kind (and link targets). */
  function fakeFs(tree: Record<string, NodeKind | { link: string }>, calls: string[]): RootFs {
    return {
      lstat(p) {
        calls.push(`lstat ${p}`);
        if (p === '/r/denied') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
        const e = tree[p];
        return e === undefined ? undefined : typeof e === 'string' ? e : 'symlink';
      },
      readlink(p) {
        calls.push(`readlink ${p}`);
        const e = tree[p];
        if (typeof e !== 'object') throw new Error(`not a link: ${p}`);
        return e.link;
      },
    };
  }

  it('walks one lstat per component and reads each link once', () => {
    const calls: string[] = [];
    const fs = fakeFs({ '/r/a': 'dir', '/r/a/l': { link: '/b' }, '/r/b': 'dir' }, calls);
    expect(resolveInRoot('/r', '/a/l/c', { fs })).toBe('/r/b/c');
    expect(calls).toEqual(['lstat /r/a', 'lstat /r/a/l', 'readlink /r/a/l', 'lstat /r/b', 'lstat /r/b/c']);
  });

  it('looks nothing up below a missing component', () => {
    const calls: string[] = [];
    const fs = fakeFs({ '/r/a': 'dir' }, calls);
    expect(resolveInRoot('/r', '/x/y/../../a/z', { fs })).toBe('/r/a/z');
    expect(calls).toEqual(['lstat /r/x', 'lstat /r/a', 'lstat /r/a/z']);
  });

  it('passes other lstat errors through', () => {
    const fs = fakeFs({}, []);
    expect(() => resolveInRoot('/r', '/denied/x', { fs })).toThrow(/EACCES/);
  });
});

describe('insideRoot', () => {
  it('maps host paths back to paths in the root', () => {
    expect(insideRoot(root, at('a/b'))).toBe('/a/b');
    expect(insideRoot(root, root)).toBe('/');
    expect(insideRoot(root, `${root}x/y`)).toBeUndefined();
    expect(insideRoot('/', '/a')).toBe('/a');
  });
});
