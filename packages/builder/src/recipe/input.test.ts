/**
 * A recipe written in code (`RecipeInput`, the shape of berth.yaml) goes through the same schema
 * and checks as recipe text, with the same error lines less the position; and it type-checks
 * where `build()` takes a recipe.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { isBerthError } from '@berth/oci';
import { REFERENCE_RECIPE } from '../test-support/recipes.js';
import { repoRoot } from '../test-support/env.js';
import { parseRecipe, validateRecipe, type Recipe } from './parse.js';
import type { RecipeInput } from './schema.js';

function refusal(f: () => unknown): { message: string; details: unknown } {
  try {
    f();
  } catch (e) {
    expect(isBerthError(e, 'ERECIPE')).toBe(true);
    return { message: (e as Error).message, details: (e as { details?: unknown }).details };
  }
  throw new Error('expected the recipe to be refused');
}

/** A parsed recipe without its source positions (what an object cannot have). */
function withoutPositions(r: Recipe): unknown {
  return JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'line' || k === 'column' || k === 'file' ? undefined : v)));
}

describe('validateRecipe (a recipe object)', () => {
  it('gives the Recipe that the same recipe as YAML text parses to, locations naming only the label', () => {
    const input: RecipeInput = {
      from: 'alpine:3.20',
      args: { VERSION: '1.0' },
      steps: [
        { run: 'echo "$VERSION" > /version' },
        { copy: { src: ['app/', 'config.yml'], dest: '/srv/', chown: '1000:1000', chmod: '0644' } },
        { env: { PORT: '8080' } },
        { workdir: '/srv' },
        { user: '1000' },
        { label: { 'org.opencontainers.image.title': 'demo' } },
        { expose: [8080] },
      ],
      entrypoint: ['/srv/app/start.sh'],
      cmd: ['--port', '8080'],
    };
    expect(parseYaml(REFERENCE_RECIPE)).toEqual(input);
    const r = validateRecipe(input);
    expect(withoutPositions(r)).toEqual(withoutPositions(parseRecipe(REFERENCE_RECIPE)));
    expect(r.file).toBe('recipe');
    expect(r.final.steps[0]?.location).toEqual({ file: 'recipe' });
    expect(r.final.fromLocation).toEqual({ file: 'recipe' });
  });

  it.each([
    'from: alpine\nsteps:\n  - run: "true"\n  - run: echo\n  - copy:\n      dest: /x\n      src: 3\n',
    'from: a\nfrm: b\n',
    'from: a\nsteps:\n  - run: x\n    shell: bash\n',
    'from: a\nsteps:\n  - copy: {src: a, dest: b, mode: 1}\n',
    'from: a\nsteps:\n  - run: true\n',
    'from: a\nsteps:\n  - frobnicate: x\n',
    'steps: []\n',
    'from: a\nsteps:\n  - copy: {src: a}\n',
    'from: a\nsteps: {run: x}\n',
    'from: a\nsteps:\n  - copy: {src: a, dest: b, chmod: 0644}\n',
    'from: a\nsteps:\n  - expose: [http]\n',
    'from: a\nargs: {1BAD: x}\n',
    'from: 3\n',
    'from: a\nsteps:\n  - copy: {from: nope, src: x, dest: y}\n',
    'from: a\nstages:\n  x: {from: y}\n  y: {from: x}\n',
    'from: a\nstages:\n  scratch: {from: alpine}\n',
    '- a\n- b\n',
  ])('refuses the object of %j with the YAML error less its position', (text) => {
    const fromText = refusal(() => parseRecipe(text, { file: 'berth.yaml' }));
    expect(fromText.message).toMatch(/^berth\.yaml:\d+:\d+: /);
    // What a plain-JS caller may pass: any value, unchecked by a compiler.
    const fromObject = refusal(() => validateRecipe(parseYaml(text) as RecipeInput));
    expect(fromObject.message).toBe(fromText.message.replace(/^berth\.yaml:\d+:\d+: /, 'recipe: '));
    expect(fromObject.details).toEqual({ file: 'recipe', path: (fromText.details as { path: string }).path });
  });

  it('names the recipe as asked, and refuses what is not a map', () => {
    expect(refusal(() => validateRecipe({ from: '' }, { file: 'app recipe' })).message).toBe('app recipe: from: must not be empty');
    for (const bad of [null, 42, 'from: alpine', [{ from: 'alpine' }]]) {
      expect(refusal(() => validateRecipe(bad as unknown as RecipeInput)).message).toBe('recipe: expected a map with at least `from`');
    }
  });
});

describe('RecipeInput in TypeScript', () => {
  it('type-checks as build({ recipe }) and catches a wrong field at compile time', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-recipe-types-'));
    try {
      const buildIndex = path.join(repoRoot, 'packages/builder/src/index.ts');
      const common = `import { build, validateRecipe, type BuildOptions, type RecipeInput } from ${JSON.stringify(buildIndex.replace(/\.ts$/, '.js'))};
declare const base: Omit<BuildOptions, 'recipe'>;
`;
      await writeFile(
        path.join(dir, 'good.ts'),
        `${common}
const recipe: RecipeInput = {
  from: 'alpine:3.20',
  args: { GREETING: 'hello' },
  stages: { tools: { from: 'busybox', steps: [{ run: ['true'] }] } },
  steps: [
    { copy: { src: 'hello.sh', dest: '/usr/local/bin/hello', chmod: '0755', chown: 0 } },
    { copy: { from: 'tools', src: '/bin/busybox', dest: '/bin/' } },
    { env: { GREETING: '$GREETING', N: 1 } },
    { run: 'hello > /greeting.txt', env: { DEBUG: true } },
    { expose: [8080, '53/udp'] },
    { user: 1000 },
    { volume: ['/data'] },
  ],
  cmd: ['hello'],
  stopsignal: 'SIGTERM',
};
export const viaBuild = () => build({ ...base, recipe });
export const inline = () => build({ ...base, recipe: { from: 'scratch', steps: [{ workdir: '/app' }] } });
export const checked = validateRecipe(recipe);
`,
      );
      await writeFile(
        path.join(dir, 'bad.ts'),
        `${common}
export const wrong = () => build({ ...base, recipe: { from: 'alpine', steps: [{ copy: { src: 3, dest: '/x' } }] } });
export const missing: RecipeInput = { steps: [] };
`,
      );
      await writeFile(path.join(dir, 'package.json'), '{"type": "module"}\n');
      await writeFile(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: path.join(repoRoot, 'tsconfig.base.json'),
          compilerOptions: {
            noEmit: true,
            typeRoots: [path.join(repoRoot, 'node_modules/@types')],
            paths: { '@berth/*': [path.join(repoRoot, 'packages/*/src/index.ts')] },
          },
          files: ['good.ts', 'bad.ts'],
        }),
      );
      const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
      const out = await new Promise<string>((resolve) => {
        execFile(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { cwd: dir }, (_err, stdout) => resolve(stdout));
      });
      const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
      expect(errors.filter((l) => !l.startsWith('bad.ts')), out).toEqual([]);
      expect(errors.map((l) => /^bad\.ts\((\d+),/.exec(l)?.[1])).toEqual(['4', '5']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
