import { describe, expect, it } from 'vitest';
import { assertsDirectory, prepareArchiveCopy, splitCpArg, splitPathDirEntry } from './cp-paths.js';

describe('splitCpArg (docker)', () => {
  it('tells a stream, local paths and CONTAINER:PATH apart', () => {
    expect(splitCpArg('-')).toEqual({ kind: 'stream' });
    expect(splitCpArg('/abs/with:colon')).toEqual({ kind: 'local', path: '/abs/with:colon' });
    expect(splitCpArg('./rel:colon')).toEqual({ kind: 'local', path: './rel:colon' });
    expect(splitCpArg('relative')).toEqual({ kind: 'local', path: 'relative' });
    expect(splitCpArg('c1:/etc/hosts')).toEqual({ kind: 'container', container: 'c1', path: '/etc/hosts' });
    expect(splitCpArg('c1:rel:x')).toEqual({ kind: 'container', container: 'c1', path: 'rel:x' });
  });
});

describe('splitPathDirEntry and assertsDirectory (docker)', () => {
  it('keeps "." for dir/. and drops a trailing slash', () => {
    expect(splitPathDirEntry('/etc/.')).toEqual({ dir: '/etc', base: '.' });
    expect(splitPathDirEntry('/etc/')).toEqual({ dir: '/', base: 'etc' });
    expect(splitPathDirEntry('/etc//hosts')).toEqual({ dir: '/etc', base: 'hosts' });
    expect(splitPathDirEntry('/')).toEqual({ dir: '/', base: '/' });
    expect(splitPathDirEntry('rel/x')).toEqual({ dir: 'rel', base: 'x' });
    expect([assertsDirectory('/a/'), assertsDirectory('/a/.'), assertsDirectory('/a'), assertsDirectory('.')]).toEqual([true, true, false, true]);
  });
});

describe('prepareArchiveCopy (docker cp rules)', () => {
  const file = { path: '/etc/hosts', isDir: false };
  const dir = { path: '/etc', isDir: true };
  const content = { path: '/etc/.', isDir: true };
  it('an existing directory takes the archive as it is', () => {
    for (const src of [file, dir, content]) expect(prepareArchiveCopy(src, { path: '/tmp/d', exists: true, isDir: true })).toEqual({ into: 'dest' });
  });
  it('a file over a file, or to a missing name: in the parent, renamed', () => {
    expect(prepareArchiveCopy(file, { path: '/tmp/f', exists: true, isDir: false })).toEqual({ into: 'parent', rebase: { from: 'hosts', to: 'f' } });
    expect(prepareArchiveCopy(file, { path: '/tmp/new', exists: false, isDir: false })).toEqual({ into: 'parent', rebase: { from: 'hosts', to: 'new' } });
    expect(prepareArchiveCopy({ ...file, rebaseName: 'link' }, { path: '/tmp/new', exists: false, isDir: false })).toEqual({ into: 'parent', rebase: { from: 'link', to: 'new' } });
  });
  it('a directory to a missing name becomes it; dir/. too', () => {
    expect(prepareArchiveCopy(dir, { path: '/tmp/new', exists: false, isDir: false })).toEqual({ into: 'parent', rebase: { from: 'etc', to: 'new' } });
    expect(prepareArchiveCopy(content, { path: '/tmp/new/', exists: false, isDir: false })).toEqual({ into: 'parent', rebase: { from: '.', to: 'new' } });
  });
  it("refuses a directory onto a file and a file into a missing DIR/ (docker's errors)", () => {
    expect(() => prepareArchiveCopy(dir, { path: '/tmp/f', exists: true, isDir: false })).toThrow(/cannot copy directory/);
    expect(() => prepareArchiveCopy(file, { path: '/tmp/nodir/', exists: false, isDir: false })).toThrow(/no such directory/);
    expect(() => prepareArchiveCopy(file, { path: '/tmp/nodir/.', exists: false, isDir: false })).toThrow(/no such directory/);
  });
});
