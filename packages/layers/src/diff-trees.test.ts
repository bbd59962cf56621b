import { cpSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diffTrees } from './create.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("diffTrees: docker's diff from createLayer's comparison", () => {
  it('A for new paths, C for changed ones and their parents, D for deleted ones; untouched trees are not listed', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-difftrees-'));
    const base = path.join(dir, 'base');
    const target = path.join(dir, 'target');
    for (const d of ['etc', 'bin', 'var/lib']) mkdirSync(path.join(base, d), { recursive: true });
    writeFileSync(path.join(base, 'etc/motd'), 'hi\n');
    writeFileSync(path.join(base, 'etc/profile'), 'a\n');
    writeFileSync(path.join(base, 'bin/sh'), 'x');
    writeFileSync(path.join(base, 'var/lib/db'), 'db');
    const old = new Date('2020-01-01T00:00:00Z');
    for (const p of ['etc/motd', 'etc/profile', 'bin/sh', 'var/lib/db', 'etc', 'bin', 'var/lib', 'var']) utimesSync(path.join(base, p), old, old);
    cpSync(base, target, { recursive: true, preserveTimestamps: true });
    for (const p of ['bin', 'var/lib', 'var']) utimesSync(path.join(target, p), old, old);
    rmSync(path.join(target, 'etc/motd'));
    writeFileSync(path.join(target, 'etc/profile'), 'b\n');
    writeFileSync(path.join(target, 'var/lib/db'), 'DB'); // same size and, set below, same mtime: content decides
    utimesSync(path.join(target, 'var/lib/db'), old, old);
    mkdirSync(path.join(target, 'new/deep'), { recursive: true });
    expect(diffTrees({ base, target }).map((c) => `${c.kind} ${c.path}`)).toEqual([
      'C /etc',
      'D /etc/motd',
      'C /etc/profile',
      'A /new',
      'A /new/deep',
      'C /var',
      'C /var/lib',
      'C /var/lib/db',
    ]);
  });
});
