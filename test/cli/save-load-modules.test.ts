import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, sandbox, type Sandbox } from '../helpers/cli.js';

const images = sharedImagesDir();

/**
 * `berth save` and `berth load` move archives between a file and the store: they must not load the
 * build engine, the runtime or the rootfs code (they did while the archives lived in @berth/builder).
 * A module hook records every file the CLI loads; the bundle keeps names (`__name(X,"X")`), so a
 * chunk holding one of these classes or functions is recognised whatever its hashed file name.
 */
const FORBIDDEN = ['Runtime', 'Snapshots', 'BuildCache', 'applyLayer'];

describe.skipIf(!images)('berth save / load load only what they use', () => {
  let box: Sandbox;
  let hook: string;
  let log: string;

  beforeAll(async () => {
    box = await sandbox();
    log = path.join(box.dir, 'modules.log');
    const loader = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + '\\n');
  return next(url, context);
}`;
    await writeFile(path.join(box.dir, 'loader.mjs'), loader);
    hook = path.join(box.dir, 'hook.mjs');
    await writeFile(hook, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(box.dir, 'loader.mjs')).href)});\n`);
  });

  afterAll(async () => {
    await box?.cleanup();
  });

  async function loadedForbidden(args: string[]): Promise<string[]> {
    await writeFile(log, '');
    const r = await berth(args, { env: { ...box.env, NODE_OPTIONS: `--import ${pathToFileURL(hook).href}` } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const urls = (await readFile(log, 'utf8')).split('\n').filter((u) => u.startsWith('file:') && u.endsWith('.js'));
    expect(urls.some((u) => u.includes('/dist/chunks/'))).toBe(true);
    const found: string[] = [];
    for (const u of urls) {
      const text = await readFile(fileURLToPath(u), 'utf8');
      for (const name of FORBIDDEN) if (text.includes(`"${name}")`)) found.push(`${name} in ${path.basename(u)}`);
    }
    return found;
  }

  it('berth load -i DIR loads neither the build engine, nor the runtime, nor rootfs/layers', async () => {
    expect(await loadedForbidden(['load', '-i', path.join(images as string, 'alpine'), '--repository', 'docker.io/library/alpine'])).toEqual([]);
  });

  it('berth save -o FILE loads neither the build engine, nor the runtime, nor rootfs/layers', async () => {
    expect(await loadedForbidden(['save', '-o', path.join(box.dir, 'alpine.tar'), 'alpine:latest'])).toEqual([]);
  });
});
