import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '@berth/oci';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from './remove.js';
import { awkwardTree } from './test-support/trees.js';

let base: string;
let canary: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'berth-rootfs-remove-'));
  canary = join(base, 'canary');
  mkdirSync(canary);
  writeFileSync(join(canary, 'keep'), 'must survive');
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

afterEach(() => {
  expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('must survive');
});

describe('removeTree', () => {
  it('removes read-only and unreadable directories, links (not their targets), fifos, odd names', async () => {
    const root = join(base, 't1');
    mkdirSync(root);
    awkwardTree(root, canary);
    await removeTree(root);
    expect(existsSync(root)).toBe(false);
  });

  it('is idempotent, removes a single file or symlink, and refuses /', async () => {
    await removeTree(join(base, 'never-existed'));
    const f = join(base, 'f');
    writeFileSync(f, '');
    await removeTree(f);
    expect(existsSync(f)).toBe(false);
    const l = join(base, 'l');
    symlinkSync(canary, l);
    await removeTree(l);
    expect(readdirSync(base)).not.toContain('l');
    const err = await removeTree('/').catch((e: unknown) => e);
    expect(isBerthError(err, 'EINVAL_ARGUMENT')).toBe(true);
  });

});
