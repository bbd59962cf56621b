/**
 * The spawner and the event loop: a process whose only pending work is the
 * spawner's (getting ready, spawning, a child that runs) must stay alive, and
 * one with a child spawned `keepAlive: false` must not wait for it. Each case runs
 * in a fresh Node process; the pid-namespace case is in spawner.root.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { useSpawnerBundle } from '../test-support/spawner-bundle.js';

const node = useSpawnerBundle();

describe('Spawner keeps the process alive while it has work', () => {
  it('awaiting warm() with nothing else pending: the worker becomes ready (the process does not exit early with 0)', () => {
    // The `berth run` bug: the CLI awaited warm() after its rootfs copy; with the (then) booting
    // namespace worker unref()'d, Node found an empty loop and exited 0, skipping the container
    // and its cleanup.
    const r = node(`
      const s = new Spawner();
      s.warm().then(
        () => { process.stdout.write('ready\\n'); process.exitCode = 3; },
        (err) => { process.stdout.write('failed: ' + err.message + '\\n'); process.exitCode = 4; },
      );`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ready\n');
    expect(r.status).toBe(3);
  });

  it('a spawned child keeps the process alive until its exit is reported', () => {
    // No new namespace (no privileges needed).
    const r = node(`
      const s = new Spawner();
      const child = await s.spawn({ newPidNamespace: false, file: '/bin/sh', args: ['-c', 'sleep 0.3; exit 5'], env: {}, fds: [0, 1, 2] });
      const e = await child.exited;
      process.stdout.write(JSON.stringify(e) + ' active=' + s.active + '\\n');
      process.exitCode = e.code;`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('{"code":5,"signal":null} active=0\n');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(5);
  });

  it('a child spawned keepAlive: false does not hold the process', () => {
    // Without keepAlive: false this process would wait 30 s for the sleep (killed on the way out).
    const r = node(`
      const s = new Spawner();
      const child = await s.spawn({ newPidNamespace: false, file: '/bin/sleep', args: ['30'], env: {}, fds: ['ignore', 'ignore', 'ignore'] }, { keepAlive: false });
      process.on('exit', () => process.kill(child.pid, 'SIGKILL'));
      process.stdout.write('spawned ' + (child.pid > 0) + '\\n');
      process.exitCode = 8;`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('spawned true\n');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(8);
  });
});
