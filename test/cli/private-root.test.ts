import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, mirrorSandbox, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();

/** `path mode` of every directory not 0700 and every regular file not 0600 under `top`, itself included. */
function notPrivate(top: string): string[] {
  const out: string[] = [];
  const visit = (p: string): void => {
    const st = lstatSync(p);
    const mode = st.mode & 0o7777;
    if ((st.isDirectory() && mode !== 0o700) || (st.isFile() && mode !== 0o600)) out.push(`${path.relative(top, p) || '.'} ${mode.toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(path.join(p, n));
  };
  visit(top);
  return out;
}

describe.skipIf(!images)('$BERTH_ROOT is private to its owner (berth pull, images)', () => {
  let box: MirrorSandbox;
  let root: string;
  let saved: number;

  beforeAll(async () => {
    saved = process.umask(0o022);
    box = await mirrorSandbox({ images: images as string, names: ['busybox'] });
    root = box.env['BERTH_ROOT'] as string;
  });

  afterAll(async () => {
    process.umask(saved);
    await box?.cleanup();
  });

  it('after a pull with umask 022, $BERTH_ROOT is 0700 and every directory of the store 0700, every file 0600; skopeo still reads it', async () => {
    const r = await berth(['pull', '-q', 'busybox'], { env: box.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lstatSync(root).mode & 0o7777).toBe(0o700);
    expect(notPrivate(path.join(root, 'store'))).toEqual([]);
    const out = execFileSync('skopeo', ['inspect', `oci:${root}/store:docker.io/library/busybox:latest`], { encoding: 'utf8' });
    expect(JSON.parse(out).Architecture).toBe('amd64');
  });

  it('a root made by an older berth (0755 directories, 0644 files) is repaired by the next command, image trees left as they are', async () => {
    const store = path.join(root, 'store');
    const olden = (p: string): void => {
      const st = lstatSync(p);
      if (st.isDirectory()) {
        chmodSync(p, 0o755);
        for (const n of readdirSync(p)) olden(path.join(p, n));
      } else if (st.isFile()) chmodSync(p, 0o644);
    };
    olden(store);
    chmodSync(root, 0o755);
    // A snapshot as an older berth left it: an image's tree, whose modes are the image's.
    const snapshot = path.join(root, 'snapshots', 'a'.repeat(64));
    mkdirSync(path.join(snapshot, 'bin'), { recursive: true });
    writeFileSync(path.join(snapshot, 'bin', 'tool'), '', { mode: 0o755 });
    for (const [p, mode] of [[path.join(root, 'snapshots'), 0o755], [snapshot, 0o755], [path.join(snapshot, 'bin'), 0o755], [path.join(snapshot, 'bin', 'tool'), 0o4755]] as const) chmodSync(p, mode);
    expect(notPrivate(store).length).toBeGreaterThan(5);

    const r = await berth(['images', '-q'], { env: box.env });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^[a-f0-9]{12}$/);
    expect(lstatSync(root).mode & 0o7777).toBe(0o700);
    expect(lstatSync(path.join(root, 'snapshots')).mode & 0o7777).toBe(0o700);
    expect(notPrivate(store)).toEqual([]);
    expect(lstatSync(snapshot).mode & 0o7777).toBe(0o755);
    expect(lstatSync(path.join(snapshot, 'bin')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(path.join(snapshot, 'bin', 'tool')).mode & 0o7777).toBe(0o4755);
    const out = execFileSync('skopeo', ['inspect', `oci:${store}:docker.io/library/busybox:latest`], { encoding: 'utf8' });
    expect(JSON.parse(out).Architecture).toBe('amd64');
  });
});
