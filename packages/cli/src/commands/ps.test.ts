import { describe, expect, it } from 'vitest';
import { berth, USAGE_HINT_LINE } from '../testing/fake-context.js';

describe('berth ps (no containers in a fresh BERTH_STATE)', () => {
  it('--format json prints an empty JSON array on the context stdout', async () => {
    const r = await berth(['ps', '-a', '--format', 'json']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '[]\n', '']);
  });

  it('-q prints nothing; the table only its header; container ls is the same', async () => {
    expect((await berth(['ps', '-q'])).stdout).toBe('');
    const header = 'CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n';
    expect((await berth(['ps'])).stdout).toBe(header);
    expect((await berth(['container', 'ls', '-a'])).stdout).toBe(header);
  });

  it('a bad --format or flag is a usage error (exit 2, the hint)', async () => {
    const f = await berth(['ps', '--format', 'yaml']);
    expect([f.code, f.stdout, f.stderr]).toEqual([2, '', `berth: invalid --format "yaml": expected "table" or "json"\n${USAGE_HINT_LINE}`]);
    const o = await berth(['ps', '--al']);
    expect([o.code, o.stdout, o.stderr]).toEqual([2, '', `berth: unknown option '--al'\n(Did you mean --all?)\n${USAGE_HINT_LINE}`]);
  });
});
