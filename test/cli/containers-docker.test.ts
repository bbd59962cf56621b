// The everyday docker verbs on containers, through the built CLI, asserting what a docker user sees.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from './helpers.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('docker verbs on containers (as root)', () => {
  let box: MirrorSandbox;
  const b = (args: string[], input?: string) => berth(args, { env: box.env, ...(input !== undefined ? { input } : {}) });
  /** ps -a's row of the container named `name`, split into its columns. */
  const psRow = async (name: string) => {
    const r = await b(['ps', '-a']);
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.endsWith(`   ${name}`));
    return line?.split(/ {3,}/) ?? [];
  };

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
    expect((await b(['pull', '-q', 'alpine'])).code).toBe(0);
  });

  afterAll(async () => {
    const ids = (await b(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await b(['rm', '-f', ...ids]).catch(() => undefined);
    await box?.cleanup();
  });

  it('ps shows "Exited (3) … ago" and "Created … ago" for a container that ran in the foreground', async () => {
    const r = await b(['run', '--name', 'fg-exit', 'alpine', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    const [, , , created, status] = await psRow('fg-exit');
    expect(created).toMatch(/^(Less than a second|\d+ seconds?) ago$/);
    expect(status).toMatch(/^Exited \(3\) (Less than a second|\d+ seconds?) ago$/);
  });

  it('ps shows "Up …" for a running detached container', async () => {
    const r = await b(['run', '-d', '--name', 'up', 'alpine', 'sleep', '300']);
    expect(r.code).toBe(0);
    const [, , , , status] = await psRow('up');
    expect(status).toMatch(/^Up (Less than a second|\d+ seconds?)$/);
    expect((await b(['rm', '-f', 'up'])).code).toBe(0);
  });

  it('logs of a container that ran in the foreground: stdout to stdout, stderr to stderr, as docker keeps them', async () => {
    const r = await b(['run', '--name', 'fg-logs', 'alpine', 'sh', '-c', 'for i in 1 2 3 4; do echo out$i; done; echo err >&2; printf partial']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'out1\nout2\nout3\nout4\npartial', 'err\n']);
    const l = await b(['logs', 'fg-logs']);
    expect([l.code, l.stdout, l.stderr]).toEqual([0, 'out1\nout2\nout3\nout4\npartial', 'err\n']);
  });

  it('logs --tail N / -n N: the last N lines (of both streams, in order); -n 0 none; all', async () => {
    const t2 = await b(['logs', '--tail', '2', 'fg-logs']);
    expect([t2.code, t2.stdout, t2.stderr]).toEqual([0, 'partial', 'err\n']);
    const t3 = await b(['logs', '-n', '3', 'fg-logs']);
    expect([t3.stdout, t3.stderr]).toEqual(['out4\npartial', 'err\n']);
    const t0 = await b(['logs', '-n', '0', 'fg-logs']);
    expect([t0.code, t0.stdout, t0.stderr]).toEqual([0, '', '']);
    expect((await b(['logs', '--tail', 'all', 'fg-logs'])).stdout).toBe('out1\nout2\nout3\nout4\npartial');
    const bad = await b(['logs', '--tail', 'many', 'fg-logs']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'berth: invalid --tail "many": expected a number of lines or "all"']);
  });

  it('logs -t prefixes each line with its RFC 3339 time in nanoseconds; --since and --until filter by it', async () => {
    const t = await b(['logs', '-t', 'fg-logs']);
    const lines = t.stdout.split('\n');
    expect(lines.slice(0, 4).every((l, i) => new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z out${i + 1}$`).test(l))).toBe(true);
    expect(t.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]{18}Z err\n$/);
    const stamp = lines[0]?.split(' ')[0] ?? '';
    expect(Math.abs(Date.parse(stamp) - Date.now())).toBeLessThan(10 * 60_000);

    expect((await b(['logs', '--since', '10m', 'fg-logs'])).stdout).toBe('out1\nout2\nout3\nout4\npartial');
    const future = String(Math.floor(Date.now() / 1000) + 3600);
    const none = await b(['logs', '--since', future, 'fg-logs']);
    expect([none.code, none.stdout, none.stderr]).toEqual([0, '', '']);
    expect((await b(['logs', '--until', '2000-01-01T00:00:00Z', 'fg-logs'])).stdout).toBe('');
    expect((await b(['logs', '--until', future, 'fg-logs'])).stdout).toBe('out1\nout2\nout3\nout4\npartial');
    const bad = await b(['logs', '--since', 'yesterday', 'fg-logs']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'berth: invalid --since "yesterday": expected a timestamp (2026-01-02T13:23:37Z, Unix seconds) or a duration (42m)']);
  });

  it('logs --tail with -f of a detached container prints the last lines, then what comes, to its end', async () => {
    const d = await b(['run', '-d', '--name', 'tailf', 'alpine', 'sh', '-c', 'echo a; echo b; echo c; sleep 1; echo d']);
    expect(d.code).toBe(0);
    const f = await b(['logs', '-f', '--tail', '1', 'tailf']);
    // c or a later line first: the log may have grown past c by the time logs reads it.
    expect(f.code).toBe(0);
    expect(['c\nd\n', 'd\n']).toContain(f.stdout);
  });
});
