import {
  existsSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { mknod } from '@berth/sys';
import { isBerthError } from '@berth/oci';
import { describe, expect, it } from 'vitest';
import { removeTree } from './remove.js';
import { awkwardTree, removalBase } from './test-support/trees.js';

const dirs = removalBase();

describe('removeTree', () => {
  it('removes read-only and unreadable directories, links (not their targets), fifos, odd names', async () => {
    const root = join(dirs.base, 't1');
    mkdirSync(root);
    awkwardTree(root, dirs.canary);
    await removeTree(root);
    expect(existsSync(root)).toBe(false);
  });

  it('is idempotent, removes a single file or symlink, and refuses /', async () => {
    await removeTree(join(dirs.base, 'never-existed'));
    const f = join(dirs.base, 'f');
    writeFileSync(f, '');
    await removeTree(f);
    expect(existsSync(f)).toBe(false);
    const l = join(dirs.base, 'l');
    symlinkSync(dirs.canary, l);
    await removeTree(l);
    expect(readdirSync(dirs.base)).not.toContain('l');
    const err = await removeTree('/').catch((e: unknown) => e);
    expect(isBerthError(err, 'EINVAL_ARGUMENT')).toBe(true);
  });

});
