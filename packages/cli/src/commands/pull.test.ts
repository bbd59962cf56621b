import { describe, expect, it } from 'vitest';
import { berth, USAGE_HINT_LINE } from '../test-support/fake-context.js';

describe('berth pull: arguments', () => {
  it.each([
    [['pull'], "berth: missing required argument 'reference'\n"],
    [['pull', '--bogus', 'alpine'], "berth: unknown option '--bogus'\n"],
    [['pull', '--format', 'yaml', 'alpine'], 'berth: invalid --format "yaml": expected "table" or "json"\n'],
    [['pull', '--max-concurrent-downloads', '0', 'alpine'], 'berth: invalid --max-concurrent-downloads "0": expected a whole number from 1 to 64\n'],
    [['pull', '--max-concurrent-downloads', '2.5', 'alpine'], 'berth: invalid --max-concurrent-downloads "2.5": expected a whole number from 1 to 64\n'],
  ])('%j is a usage error (exit 2, the hint) before the store or a registry is opened', async (argv, line) => {
    const r = await berth(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${line}${USAGE_HINT_LINE}`);
    expect(r.ctx.opened).toEqual([]);
  });

  it('a malformed --platform is a usage error', async () => {
    const r = await berth(['pull', '--platform', 'linux/', 'alpine']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^berth: .*\n\(run "berth --help" for usage\)\n$/);
    expect(r.ctx.opened).toEqual([]);
  });

  it('a malformed reference fails with one line, exit 1', async () => {
    const r = await berth(['pull', 'alpine@sha256:abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: [^\n]+\n$/);
    expect(r.ctx.opened).toEqual([]);
  });

  it('documents its flags and the default of --max-concurrent-downloads', async () => {
    const r = await berth(['pull', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: berth pull [options] <reference>\n');
    expect(r.stdout).toContain('--max-concurrent-downloads <n>  layers downloaded at once (default: "3")');
    expect(r.stdout).toContain('-q, --quiet ');
  });
});
