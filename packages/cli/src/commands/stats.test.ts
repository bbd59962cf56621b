import { describe, expect, it } from 'vitest';
import type { ContainerStats } from '@berth/runtime';
import { bytesSize, cpuPercent, humanSize3, statsRow } from '../actions/stats.js';
import { berth, USAGE_HINT_LINE } from '../test-support/fake-context.js';

const sample = (over: Partial<ContainerStats>): ContainerStats => ({
  id: 'c'.repeat(64),
  name: 'web',
  readAt: 0,
  cpuNs: 0,
  systemNs: 0,
  onlineCpus: 2,
  memoryUsage: 1_589_248,
  memoryLimit: 64 * 2 ** 20,
  net: { rx: 1234, tx: 0 },
  block: { read: 4_096_000, write: 0 },
  pids: 3,
  ...over,
});

describe("berth stats: docker's units and CPU %", () => {
  it('sizes as docker units.BytesSize (%.4g, 1024) and HumanSizeWithPrecision(3) (1000)', () => {
    expect([bytesSize(0), bytesSize(1_589_248), bytesSize(64 * 2 ** 20), bytesSize(1.5 * 2 ** 30)]).toEqual(['0B', '1.516MiB', '64MiB', '1.5GiB']);
    expect([humanSize3(0), humanSize3(1234), humanSize3(4_096_000), humanSize3(999)]).toEqual(['0B', '1.23kB', '4.1MB', '999B']);
  });

  it('CPU % is the container CPU delta over the host CPU delta, times the CPUs; -- without two samples', () => {
    const a = sample({ cpuNs: 1e9, systemNs: 100e9 });
    const b = sample({ cpuNs: 1.5e9, systemNs: 102e9 });
    expect(cpuPercent(a, b)).toBe('50.00%');
    expect(cpuPercent(undefined, b)).toBe('--');
    const { cpuNs: _ignored, ...noCpu } = b;
    expect(cpuPercent(a, noCpu)).toBe('--');
  });

  it('a row: id, name, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS', () => {
    const { block: _b, ...noBlock } = sample({});
    expect(statsRow(sample({ cpuNs: 0, systemNs: 0 }), sample({ cpuNs: 2e8, systemNs: 2e9 }))).toEqual([
      'cccccccccccc', 'web', '20.00%', '1.516MiB / 64MiB', '2.37%', '1.23kB / 0B', '4.1MB / 0B', '3',
    ]);
    expect(statsRow(undefined, noBlock)[6]).toBe('--');
  });

  it('a bad --format is a usage error before anything is read', async () => {
    const r = await berth(['stats', '--no-stream', '--format', '{{.Name}}']);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `berth: invalid --format "{{.Name}}": expected "table" or "json"\n${USAGE_HINT_LINE}`]);
  });
});
