import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerStatus, humanDuration, relativeTime } from '../output.js';
import { berth, tempDir, USAGE_HINT_LINE } from '../test-support/fake-context.js';

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

describe("ps STATUS and CREATED as docker's (units.HumanDuration)", () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();
  const min = 60_000;

  it('humanDuration follows docker: seconds, About a minute, minutes, About an hour, hours up to 48, days, weeks, months, years', () => {
    const cases: Array<[number, string]> = [
      [500, 'Less than a second'],
      [1000, '1 second'],
      [59_000, '59 seconds'],
      [90_000, 'About a minute'],
      [3 * min, '3 minutes'],
      [59 * min, '59 minutes'],
      [60 * min, 'About an hour'],
      [100 * min, '2 hours'],
      [47 * 60 * min, '47 hours'],
      [3 * 24 * 60 * min, '3 days'],
      [20 * 24 * 60 * min, '2 weeks'],
      [90 * 24 * 60 * min, '3 months'],
      [800 * 24 * 60 * min, '2 years'],
    ];
    expect(cases.map(([ms]) => humanDuration(ms))).toEqual(cases.map(([, text]) => text));
    expect(relativeTime(ago(2 * min + 5000), now)).toBe('2 minutes ago');
  });

  it('containerStatus: Created, Up 3 minutes, Up 3 minutes (Paused), Exited (0) 2 minutes ago, Exited (unknown)', () => {
    expect(containerStatus({ status: 'created', statusText: 'Created' }, now)).toBe('Created');
    expect(containerStatus({ status: 'running', statusText: 'Up', startedAt: ago(3.5 * min) }, now)).toBe('Up 3 minutes');
    expect(containerStatus({ status: 'running', statusText: 'Up', startedAt: ago(3.5 * min), paused: true }, now)).toBe('Up 3 minutes (Paused)');
    expect(containerStatus({ status: 'stopped', statusText: 'Exited (0)', startedAt: ago(5 * min), finishedAt: ago(2.5 * min) }, now)).toBe(
      'Exited (0) 2 minutes ago',
    );
    expect(containerStatus({ status: 'stopped', statusText: 'Exited (unknown)', startedAt: ago(5 * min) }, now)).toBe('Exited (unknown)');
  });

  it('containerStatus between two runs of a restart policy: Restarting (N) … ago, N the last exit status', () => {
    const restarting = { status: 'running', statusText: 'Restarting (3)', restarting: true, startedAt: ago(9000), finishedAt: ago(5500), exitCode: 3 };
    expect(containerStatus(restarting, now)).toBe('Restarting (3) 5 seconds ago');
    expect(containerStatus({ ...restarting, exitCode: 0, finishedAt: ago(300) }, now)).toBe('Restarting (0) Less than a second ago');
  });

  it('ps -a prints them for stored containers', async () => {
    const tmp = tempDir();
    try {
      const state = path.join(tmp.dir, 'state');
      const wall = Date.now();
      const at = (ms: number) => new Date(wall - ms).toISOString();
      const write = (id: string, s: Record<string, unknown>) => {
        mkdirSync(path.join(state, id), { recursive: true });
        writeFileSync(path.join(state, id, 'state.json'), JSON.stringify({ version: 1, id, rootfs: '/nonexistent', ownsRootfs: false, command: ['sh'], detached: true, tty: false, autoRemove: false, cgroup: false, ...s }));
      };
      // The monitor is this process: alive, so nothing is swept and the stored status stands.
      const monitor = { monitorPid: process.pid };
      write('a'.repeat(64), { name: 'exited', status: 'stopped', exitCode: 0, createdAt: at(10 * min + 5000), startedAt: at(10 * min), finishedAt: at(2 * min + 5000), ...monitor });
      write('b'.repeat(64), { name: 'fresh', status: 'created', createdAt: at(3 * min + 5000), ...monitor });
      const r = await berth(['ps', '-a'], { dir: tmp.dir });
      expect([r.code, r.stderr]).toEqual([0, '']);
      const rows = r.stdout.split('\n').slice(1, -1).map((l) => l.split(/ {3,}/));
      expect(rows.map((c) => [c.at(-3), c.at(-2), c.at(-1)])).toEqual([
        ['3 minutes ago', 'Created', 'fresh'],
        ['10 minutes ago', 'Exited (0) 2 minutes ago', 'exited'],
      ]);
    } finally {
      tmp.remove();
    }
  });

  it('ps --format: a Go template per container, `table …` with docker\'s titles; State and RestartCount of a restarting one', async () => {
    const tmp = tempDir();
    try {
      const state = path.join(tmp.dir, 'state');
      const wall = Date.now();
      const at = (ms: number) => new Date(wall - ms).toISOString();
      const id = 'c'.repeat(64);
      mkdirSync(path.join(state, id), { recursive: true });
      const restartPolicy = { Name: 'always', MaximumRetryCount: 0 };
      const s = { version: 1, id, name: 'flaky', status: 'running', restarting: true, exitCode: 1, restartCount: 4, restartPolicy, createdAt: at(10 * min), startedAt: at(6 * min), finishedAt: at(5 * min + 5000) };
      writeFileSync(path.join(state, id, 'state.json'), JSON.stringify({ ...s, rootfs: '/nonexistent', ownsRootfs: false, command: ['sh', '-c', 'exit 1'], detached: true, tty: false, autoRemove: false, cgroup: false, monitorPid: process.pid }));
      const t = await berth(['ps', '--format', '{{.Names}} {{.State}} {{.Status}} {{.RestartCount}} {{.ID}} {{.Command}}'], { dir: tmp.dir });
      expect([t.code, t.stderr, t.stdout]).toEqual([0, '', `flaky restarting Restarting (1) 5 minutes ago 4 cccccccccccc "sh -c exit 1"\n`]);
      const table = await berth(['ps', '--format', 'table {{.ID}}\\t{{.Names}}\\t{{.Status}}'], { dir: tmp.dir });
      expect(table.stdout).toBe('CONTAINER ID   NAMES     STATUS\ncccccccccccc   flaky     Restarting (1) 5 minutes ago\n');
      mkdirSync(path.join(state, 'names'));
      writeFileSync(path.join(state, 'names', 'flaky'), id);
      const inspect = await berth(['container', 'inspect', '-f', '{{.State.Status}} {{.State.Restarting}} {{.RestartCount}} {{json .HostConfig.RestartPolicy}}', 'flaky'], { dir: tmp.dir });
      expect([inspect.stderr, inspect.stdout]).toEqual(['', 'restarting true 4 {"Name":"always","MaximumRetryCount":0}\n']);
      const bad = await berth(['ps', '--format', '{{.Names}}{{end}}'], { dir: tmp.dir });
      expect([bad.code, bad.stdout, bad.stderr]).toEqual([1, '', 'berth: template: unexpected {{end}}\n']);
    } finally {
      tmp.remove();
    }
  });
});
