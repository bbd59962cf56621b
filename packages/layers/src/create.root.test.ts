// createLayer as root: trusted.* xattrs can only be set by root. The rest is in create.test.ts.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CAPABILITY_XATTR } from '../../../fixtures/layers/index.js';
import { createLayer } from './create.js';
import { lsetxattr } from '@berth/sys';
import { copyTree, listTar } from './test-support/tar.js';

const isRoot = process.getuid?.() === 0;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-create-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('createLayer as root', () => {
  // Root: trusted.* can only be set by root. An overlayfs upper directory carries
  // trusted.overlay.opaque on a replaced directory; the layer says so with
  // .wh..wh..opq (found from the names), never with the xattr.
  it.skipIf(!isRoot)('records no trusted.* xattr (an upper dir\'s trusted.overlay.opaque included); the opaque marker still comes from the names', async () => {
    const base = path.join(dir, 'base');
    mkdirSync(path.join(base, 'd'), { recursive: true });
    writeFileSync(path.join(base, 'd', 'old'), 'old');
    const target = path.join(dir, 'target');
    copyTree(base, target);
    unlinkSync(path.join(target, 'd', 'old'));
    writeFileSync(path.join(target, 'd', 'new'), 'new');
    lsetxattr(path.join(target, 'd'), 'trusted.overlay.opaque', Buffer.from('y'));
    writeFileSync(path.join(target, 'ping'), 'ping');
    for (const [name, value] of [['trusted.foo', 'bar'], ['user.x', 'x'], ['security.capability', CAPABILITY_XATTR]] as const) {
      lsetxattr(path.join(target, 'ping'), name, Buffer.from(value));
    }
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    await createLayer({ base, target, output: sink, compression: 'none' });
    const entries = await listTar(Buffer.concat(chunks), 'none');
    expect(entries.map((e) => e.name)).toEqual(['d/', 'd/.wh..wh..opq', 'd/new', 'ping']);
    const xattrNames = (name: string): string[] =>
      Object.keys(entries.find((e) => e.name === name)?.pax ?? {})
        .filter((k) => k.startsWith('SCHILY.xattr.'))
        .sort();
    expect(xattrNames('d/')).toEqual([]);
    expect(xattrNames('ping')).toEqual(['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.x']);
  });
});
