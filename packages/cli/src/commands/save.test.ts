import { describe, expect, it } from 'vitest';
import { berth, USAGE_HINT_LINE } from '../test-support/fake-context.js';

describe('berth save and unpack: arguments', () => {
  it('save refuses to write an archive to a terminal stdout (exit 2)', async () => {
    const r = await berth(['save', 'alpine'], { stdoutIsTTY: true });
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `berth: save: refusing to write an archive to a terminal; use -o FILE or redirect stdout\n${USAGE_HINT_LINE}`]);
  });

  it('save refuses an unknown --format, and --format oci without -o DIR, before the store is opened (exit 2)', async () => {
    const bad = await berth(['save', '--format', 'zip', '-o', '/nonexistent/x', 'alpine']);
    expect([bad.code, bad.stderr]).toEqual([2, `berth: save: unknown --format "zip" (use docker-archive, oci-archive, oci)\n${USAGE_HINT_LINE}`]);
    const dir = await berth(['save', '--format', 'oci', 'alpine']);
    expect([dir.code, dir.stderr]).toEqual([2, `berth: save: --format oci writes a directory; give it with -o DIR\n${USAGE_HINT_LINE}`]);
    expect([...bad.ctx.opened, ...dir.ctx.opened]).toEqual([]);
  });

  it('unpack with a malformed --platform is a usage error before the store is opened', async () => {
    const r = await berth(['unpack', '--platform', 'linux/', 'alpine', '/nonexistent/x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^berth: [^\n]*\n\(run "berth --help" for usage\)\n$/);
    expect(r.ctx.opened).toEqual([]);
  });

  it('unpack needs both arguments', async () => {
    const r = await berth(['unpack', 'alpine']);
    expect([r.code, r.stderr]).toEqual([2, `berth: missing required argument 'dir'\n${USAGE_HINT_LINE}`]);
  });
});
