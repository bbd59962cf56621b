import { describe, expect, it } from 'vitest';
import { compileGlob, IgnoreMatcher } from './pattern.js';

describe('globs', () => {
  it('matches * within a component and ** across components', () => {
    expect(compileGlob('*.js').test('a.js')).toBe(true);
    expect(compileGlob('*.js').test('dir/a.js')).toBe(false);
    expect(compileGlob('src/**/*.ts').test('src/a.ts')).toBe(true);
    expect(compileGlob('src/**/*.ts').test('src/x/y/a.ts')).toBe(true);
    expect(compileGlob('src/**').test('src/x/y')).toBe(true);
    expect(compileGlob('file?.[ch]').test('file1.c')).toBe(true);
    expect(compileGlob('file?.[!ch]').test('file1.c')).toBe(false);
    expect(compileGlob('a.b').test('axb')).toBe(false);
    expect(compileGlob('\\*.txt').test('*.txt')).toBe(true);
    expect(compileGlob('\\*.txt').test('a.txt')).toBe(false);
  });
});

describe('.berthignore', () => {
  const ig = new IgnoreMatcher(`# comment
node_modules/
*.log
!keep.log
/build
docs/**/*.tmp
secret.txt
`);
  it('applies gitignore rules', () => {
    expect(ig.ignores('node_modules', true)).toBe(true);
    expect(ig.ignores('node_modules', false)).toBe(false); // dir-only pattern
    expect(ig.ignores('a/node_modules/x.js', false)).toBe(true); // inside an ignored dir
    expect(ig.ignores('x.log', false)).toBe(true);
    expect(ig.ignores('deep/x.log', false)).toBe(true);
    expect(ig.ignores('keep.log', false)).toBe(false);
    expect(ig.ignores('build', true)).toBe(true);
    expect(ig.ignores('build/out.bin', false)).toBe(true);
    expect(ig.ignores('src/build', true)).toBe(false); // anchored
    expect(ig.ignores('docs/a/b/c.tmp', false)).toBe(true);
    expect(ig.ignores('docs/c.tmp', false)).toBe(true);
    expect(ig.ignores('secret.txt', false)).toBe(true);
    expect(ig.ignores('berth.yaml', false)).toBe(false);
  });
  it('cannot re-include a file inside an ignored directory (as git)', () => {
    const m = new IgnoreMatcher('out/\n!out/keep.txt\n');
    expect(m.ignores('out/keep.txt', false)).toBe(true);
  });
  it('last match wins', () => {
    const m = new IgnoreMatcher('*.txt\n!a.txt\na.txt\n');
    expect(m.ignores('a.txt', false)).toBe(true);
    expect(new IgnoreMatcher('').empty).toBe(true);
  });
});
