import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { berth, tempDir } from '../test-support/fake-context.js';

describe('berth import', () => {
  it('a missing file is one error line and exit 1, and nothing is stored', async () => {
    const tmp = tempDir();
    try {
      const missing = path.join(tmp.dir, 'missing.tar');
      const r = await berth(['import', missing, 'imported:v1'], { dir: tmp.dir });
      expect([r.code, r.stdout]).toEqual([1, '']);
      expect(r.stderr).toBe(`berth: import ${missing}: ENOENT: no such file or directory, open '${missing}'\n`);
      expect(r.ctx.opened).toEqual([]);
    } finally {
      tmp.remove();
    }
  });
});
