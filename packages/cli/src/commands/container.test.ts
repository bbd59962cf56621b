import { describe, expect, it } from 'vitest';
import { parseUntil } from '../actions/prune.js';
import { berth, USAGE_HINT_LINE } from '../test-support/fake-context.js';

describe('berth stop, kill, rm, logs, container inspect: arguments and missing containers', () => {
  it('stop -t takes seconds: anything else is a usage error', async () => {
    const r = await berth(['stop', '-t', 'soon', 'abc']);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `berth: invalid --time "soon": expected seconds\n${USAGE_HINT_LINE}`]);
  });

  it.each([['stop'], ['kill'], ['rm'], ['container', 'stop'], ['container', 'rm', '-f']])('%j of a missing container prints one line and exits 1', async (...cmd) => {
    const r = await berth([...cmd, 'nosuch']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^berth: [^\n]*nosuch[^\n]*\n$/);
  });

  it('logs of a missing container: one line, exit 1', async () => {
    const r = await berth(['logs', 'nosuch']);
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toMatch(/^berth: [^\n]*nosuch[^\n]*\n$/);
  });

  it('container inspect prints a JSON array of what it found on stdout, a line per missing one, exit 1', async () => {
    const r = await berth(['container', 'inspect', 'nosuch']);
    expect([r.code, r.stdout]).toEqual([1, '[]\n']);
    expect(r.stderr).toMatch(/^berth: [^\n]*nosuch[^\n]*\n$/);
  });

  it('a command without its container argument is a usage error', async () => {
    const r = await berth(['kill']);
    expect([r.code, r.stderr]).toEqual([2, `berth: missing required argument 'container'\n${USAGE_HINT_LINE}`]);
  });
});

describe('berth container prune', () => {
  it.each([
    [['--filter', 'label=x'], 'berth: invalid --filter "label=x": only until=TIME is supported\n'],
    [['--filter', 'until'], 'berth: invalid --filter "until": only until=TIME is supported\n'],
    [['--filter', 'until=soon'], 'berth: invalid --filter until="soon": expected a duration (10m, 24h), Unix seconds or a date\n'],
  ])('%j is a usage error before it asks', async (flags, line) => {
    const r = await berth(['container', 'prune', ...flags]);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `${line}${USAGE_HINT_LINE}`]);
  });

  it('asks on stdout and reads the answer from the context stdin: "n" or EOF removes nothing', async () => {
    const prompt = 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] \n';
    for (const stdin of ['n\n', '']) {
      const r = await berth(['container', 'prune'], { stdin });
      expect([r.code, r.stdout, r.stderr]).toEqual([0, prompt, '']);
    }
  });

  it('"y" (or -f) prunes: nothing to remove here', async () => {
    const y = await berth(['container', 'prune'], { stdin: 'y\n' });
    expect([y.code, y.stdout, y.stderr]).toEqual([0, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] \nTotal reclaimed space: 0B\n', '']);
    const f = await berth(['container', 'prune', '-f', '--filter', 'until=24h']);
    expect([f.code, f.stdout, f.stderr]).toEqual([0, 'Total reclaimed space: 0B\n', '']);
  });

  it('until: Go durations before now, Unix seconds, dates', () => {
    const now = Date.parse('2024-06-01T12:00:00Z');
    expect(parseUntil('1h30m', now).toISOString()).toBe('2024-06-01T10:30:00.000Z');
    expect(parseUntil('1700000000', now).getTime()).toBe(1_700_000_000_000);
    expect(parseUntil('2024-01-02', now).toISOString()).toBe('2024-01-02T00:00:00.000Z');
  });
});

describe('pause, unpause, rename (usage)', () => {
  it('need their arguments: a usage error before anything is opened', async () => {
    for (const argv of [['pause'], ['unpause'], ['rename', 'only-one'], ['container', 'pause']]) {
      const r = await berth(argv);
      expect([r.code, r.stdout]).toEqual([2, '']);
      expect(r.stderr).toMatch(/^berth: missing required argument/);
      expect(r.ctx.opened).toEqual([]);
    }
  });

  it('of a container that does not exist: one line, exit 1', async () => {
    const r = await berth(['rename', 'nosuch', 'other']);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', 'berth: find container nosuch: no such container\n']);
  });
});

describe('export (usage)', () => {
  it('refuses to write an archive to a terminal, as docker, before anything is opened', async () => {
    const r = await berth(['export', 'web'], { stdoutIsTTY: true });
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `berth: export: refusing to write an archive to a terminal; use -o FILE or redirect stdout\n${USAGE_HINT_LINE}`]);
    expect(r.ctx.opened).toEqual([]);
  });
});
