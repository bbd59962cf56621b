/** A build context on disk for the copy tests: files inside it, secrets just outside, an empty root to copy into. */
import { chmod, lstat, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IgnoreMatcher } from '../context/pattern.js';
import type { CopySource } from '../context/sources.js';

export interface ContextFixture {
  /** The temp dir holding everything (with `outside.txt` and `outdir/f`, both "SECRET"). */
  tmp: string;
  /** The context: `app/start.sh` (0755), `app/lib/a.js`, `app/lib/b.log`, `config.yml`. */
  ctx: string;
  /** An empty image root. */
  root: string;
  /** The context as a copy source, with `.berthignore` text `ignore`. */
  context(ignore?: string): CopySource;
  remove(): Promise<void>;
}

export async function makeContextFixture(): Promise<ContextFixture> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'berth-build-src-'));
  const ctx = path.join(tmp, 'ctx');
  const root = path.join(tmp, 'root');
  await mkdir(path.join(ctx, 'app', 'lib'), { recursive: true });
  await mkdir(root);
  await writeFile(path.join(ctx, 'app', 'start.sh'), '#!/bin/sh\necho hi\n');
  await chmod(path.join(ctx, 'app', 'start.sh'), 0o755);
  await writeFile(path.join(ctx, 'app', 'lib', 'a.js'), 'a');
  await writeFile(path.join(ctx, 'app', 'lib', 'b.log'), 'log');
  await writeFile(path.join(ctx, 'config.yml'), 'x: 1\n');
  await writeFile(path.join(tmp, 'outside.txt'), 'SECRET');
  await mkdir(path.join(tmp, 'outdir'));
  await writeFile(path.join(tmp, 'outdir', 'f'), 'SECRET');
  return {
    tmp,
    ctx,
    root,
    context: (ignore = '') => ({ root: ctx, kind: 'context', ignore: new IgnoreMatcher(ignore) }),
    remove: () => rm(tmp, { recursive: true, force: true }),
  };
}

/** Every entry under `dir`, sorted, parents first: `d/`, `f`, `l -> target`. */
export async function listTree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(path.join(dir, r));
    out.push(st.isDirectory() ? `${r}/` : st.isSymbolicLink() ? `${r} -> ${await readlink(path.join(dir, r))}` : r);
    if (st.isDirectory()) out.push(...(await listTree(dir, r)));
  }
  return out;
}
