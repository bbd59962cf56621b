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
