import { describe, expect, it } from 'vitest';
import { berth, USAGE_HINT_LINE } from '../test-support/fake-context.js';

describe('berth build: arguments', () => {
  it.each([
    [['--compression', 'xz'], 'berth: invalid --compression "xz": expected gzip, zstd or none\n'],
    [['--network', 'bridge'], 'berth: invalid --network "bridge": expected "none" or "host"\n'],
    [['--format', 'yaml'], `berth: invalid --format "yaml": expected "table" or "json"\n${USAGE_HINT_LINE}`],
    [['--bogus'], `berth: unknown option '--bogus'\n${USAGE_HINT_LINE}`],
  ])('%j fails with its line before the store is opened', async (flags, stderr) => {
    const r = await berth(['build', ...flags, '.']);
    expect(r.code).toBe(stderr.includes(USAGE_HINT_LINE) ? 2 : 1);
    expect([r.stdout, r.stderr]).toEqual(['', stderr]);
    expect(r.ctx.opened).toEqual([]);
  });

  it('--no-cache is documented as the negation of the layer cache', async () => {
    const r = await berth(['build', '--help']);
    expect(r.stdout).toContain('  --no-cache                      run every step, ignoring the layer cache\n');
    expect(r.stdout).toContain('Usage: berth build [options] [context]\n');
  });
});
