import { describe, expect, it } from 'vitest';
import { berth } from '../test-support/fake-context.js';

describe('berth system prune', () => {
  it('lists what it will remove (-a: every unused image) and stops at "no" on the context stdin', async () => {
    const r = await berth(['system', 'prune', '-a'], { stdin: 'no\n' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        'WARNING! This will remove:',
        '  - all stopped containers',
        '  - all images without at least one container associated to them',
        '  - unused build cache',
        '  - build trees of builds that are no longer running',
        '',
        'Are you sure you want to continue? [y/N] ',
        '',
      ].join('\n'),
    );
    expect(r.ctx.opened).toEqual([]);
  });

  it('-f on an empty root removes nothing and says so', async () => {
    const r = await berth(['system', 'prune', '-f']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'Total reclaimed space: 0B\n', '']);
  });
});
