import { lstatSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildCache, cacheKey } from './cache.js';
import { loadRecipe } from './recipe/parse.js';
import { REFERENCE_RECIPE } from './test-support/recipes.js';

let dir: string;
let saved: number;
beforeEach(async () => {
  saved = process.umask(0);
  dir = await mkdtemp(path.join(tmpdir(), 'berth-cache-'));
});
afterEach(async () => {
  process.umask(saved);
  await rm(dir, { recursive: true, force: true });
});

const modeOf = (p: string): number => lstatSync(p).mode & 0o7777;

describe('the build cache under $BERTH_ROOT is private to its owner', () => {
  it('cache entries and cached recipes are 0600 in 0700 directories, even with umask 0', async () => {
    const cacheDir = path.join(dir, 'buildcache');
    const key = cacheKey('', { kind: 'env' });
    await new BuildCache(cacheDir).put({ key, created: '1970-01-01T00:00:00Z' });
    expect(modeOf(cacheDir)).toBe(0o700);
    expect(modeOf(path.join(cacheDir, `${key}.json`))).toBe(0o600);

    const recipe = path.join(dir, 'berth.yaml');
    await writeFile(recipe, REFERENCE_RECIPE);
    const recipes = path.join(cacheDir, 'recipes');
    await loadRecipe(recipe, { cacheDir: recipes });
    expect(modeOf(recipes)).toBe(0o700);
    const files = readdirSync(recipes);
    expect(files).toHaveLength(1);
    expect(modeOf(path.join(recipes, files[0] as string))).toBe(0o600);
  });
});

describe('listing and removing entries', () => {
  it('entries() lists valid entries with their layers and skips foreign files; remove() drops the named ones', async () => {
    const cache = new BuildCache(path.join(dir, 'buildcache'));
    expect(await cache.entries()).toEqual([]);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'a'.repeat(64)}`, size: 3 };
    const k1 = cacheKey('', { kind: 'run', n: 1 });
    const k2 = cacheKey('', { kind: 'env' });
    await cache.put({ key: k1, layer, diffId: `sha256:${'b'.repeat(64)}`, created: '1970-01-01T00:00:00Z' });
    await cache.put({ key: k2, created: '1970-01-01T00:00:00Z' });
    await writeFile(path.join(dir, 'buildcache', `${'c'.repeat(64)}.json`), 'not json');
    const listed = await cache.entries();
    expect(listed.map((e) => e.key).sort()).toEqual([k1, k2].sort());
    expect(listed.find((e) => e.key === k1)?.layer?.digest).toBe(layer.digest);
    expect(listed.every((e) => e.fileBytes > 0)).toBe(true);
    await cache.remove([k1]);
    expect((await cache.entries()).map((e) => e.key)).toEqual([k2]);
  });
});
