/**
 * The spawner and the pid namespace (as root): a child can be PID 1 of a new one, while
 * this thread's own children keep being born in the process's namespace.
 */
import { describe, expect, it } from 'vitest';
import { useSpawnerBundle } from '../test-support/spawner-bundle.js';

const node = useSpawnerBundle();

describe('Spawner and the pid namespace (root)', () => {
  it('makes the child PID 1 of a new pid namespace; this thread stays in its own', () => {
    const r = node(`
      const fs = require('node:fs');
      const before = fs.readlinkSync('/proc/thread-self/ns/pid_for_children');
      const s = new Spawner();
      const run = async (newPidNamespace) => {
        const out = require('node:path').join(require('node:os').tmpdir(), 'berth-spawner-' + process.pid + '-' + newPidNamespace);
        const fd = fs.openSync(out, 'w');
        const child = await s.spawn({ newPidNamespace, file: '/bin/sh', args: ['-c', 'echo $$'], env: {}, fds: ['ignore', fd, 'ignore'] });
        fs.closeSync(fd);
        const e = await child.exited;
        const text = fs.readFileSync(out, 'utf8').trim();
        fs.rmSync(out);
        return { pid: child.pid, inside: text, code: e.code };
      };
      const a = await run(true);
      const b = await run(false);
      const after = fs.readlinkSync('/proc/thread-self/ns/pid_for_children');
      process.stdout.write(JSON.stringify({ a, b, same: before === after, own: after === fs.readlinkSync('/proc/self/ns/pid') }) + '\\n');`);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { a: { pid: number; inside: string; code: number }; b: { pid: number; inside: string; code: number }; same: boolean; own: boolean };
    expect(out.a).toMatchObject({ inside: '1', code: 0 });
    expect(out.a.pid).toBeGreaterThan(1);
    expect(out.b).toMatchObject({ inside: String(out.b.pid), code: 0 });
    expect(out.same).toBe(true);
    expect(out.own).toBe(true);
  });
});
