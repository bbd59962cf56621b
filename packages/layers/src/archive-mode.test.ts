// createLayer and applyLayer in archive mode (berth cp): rootName, rebase, whiteouts off, a fixed owner.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { applyLayer } from './apply.js';
import { createLayer } from './create.js';

const TAR = 'application/vnd.oci.image.layer.v1.tar';
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'layers-archive-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** createLayer(archive) of `target` as `rootName`, applied into `dest` with `extra` options. */
async function roundTrip(target: string, rootName: string, dest: string, extra: Partial<Parameters<typeof applyLayer>[0]> = {}) {
  const stream = new PassThrough();
  const made = createLayer({ target, rootName, output: stream, compression: 'none' });
  const [created] = await Promise.all([made, applyLayer({ root: dest, source: stream, mediaType: TAR, whiteouts: false, ...extra })]);
  return created;
}

describe('archive mode', () => {
  it('writes a directory as rootName/… with .wh. names as plain files, and applies them as such', async () => {
    const src = temp();
    mkdirSync(path.join(src, 'data/sub'), { recursive: true });
    writeFileSync(path.join(src, 'data/.wh.plain'), 'not a whiteout');
    writeFileSync(path.join(src, 'data/sub/f'), 'f');
    const dest = temp();
    writeFileSync(path.join(dest, 'plain'), 'must survive');
    const r = await roundTrip(path.join(src, 'data'), 'copy', dest);
    expect(r.entries).toBe(4);
    expect(readFileSync(path.join(dest, 'copy/.wh.plain'), 'utf8')).toBe('not a whiteout');
    expect(readFileSync(path.join(dest, 'copy/sub/f'), 'utf8')).toBe('f');
    expect(readFileSync(path.join(dest, 'plain'), 'utf8')).toBe('must survive');
  });

  it('writes a symlink itself (not followed) and a single file; rebase renames the first component', async () => {
    const src = temp();
    writeFileSync(path.join(src, 'file'), 'content');
    symlinkSync('/etc/shadow', path.join(src, 'link'));
    const dest = temp();
    await roundTrip(path.join(src, 'link'), 'link', dest);
    expect(readlinkSync(path.join(dest, 'link'))).toBe('/etc/shadow');
    await roundTrip(path.join(src, 'file'), 'file', dest, { rebase: { from: 'file', to: 'renamed' } });
    expect(readFileSync(path.join(dest, 'renamed'), 'utf8')).toBe('content');
    expect(existsSync(path.join(dest, 'file'))).toBe(false);
  });

  it('rebase from "." puts a directory\'s content under the new name; owner sets every entry\'s owner', async () => {
    const src = temp();
    writeFileSync(path.join(src, 'a'), 'a');
    const dest = temp();
    const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    await roundTrip(`${src}/.`, '.', dest, { rebase: { from: '.', to: 'new' }, owner: me });
    expect(readFileSync(path.join(dest, 'new/a'), 'utf8')).toBe('a');
    expect([lstatSync(path.join(dest, 'new/a')).uid, lstatSync(path.join(dest, 'new')).isDirectory()]).toEqual([me.uid, true]);
  });

  it('refuses rootName with a base', async () => {
    const src = temp();
    await expect(createLayer({ base: src, target: src, rootName: 'x', output: new PassThrough(), compression: 'none' })).rejects.toThrow(/rootName/);
  });
});
