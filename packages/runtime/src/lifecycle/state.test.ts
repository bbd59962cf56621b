import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { StateStore, canDelete, canKill, canStart, describe as describeState, isAlive, newContainerId, processStartTime, writeFileAtomic } from './state.js';
import type { ContainerState } from './state.js';
import { signalNumber } from './kill.js';
import { formatTiming } from '../launch/timing.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-state-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function state(id: string, over: Partial<ContainerState> = {}): ContainerState {
  return {
    version: 1,
    id,
    name: `n-${id.slice(0, 6)}`,
    status: 'created',
    createdAt: new Date().toISOString(),
    rootfs: '/x',
    ownsRootfs: false,
    command: ['sh'],
    detached: false,
    tty: false,
    autoRemove: false,
    cgroup: false,
    ...over,
  };
}

describe('StateStore', () => {
  const store = new StateStore(path.join(tmp, 'state'));

  it('reserves names uniquely and takes over a stale reservation', () => {
    const a = newContainerId();
    const b = newContainerId();
    store.reserveName('web', a);
    fs.mkdirSync(store.dir(a), { recursive: true });
    let err: unknown;
    try {
      store.reserveName('web', b);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'EIN_USE')).toBe(true);
    expect((err as Error).message).toBe(`create container: name "web" is already in use by container ${a.slice(0, 12)}`);
    fs.rmSync(store.dir(a), { recursive: true });
    store.reserveName('web', b);
    fs.mkdirSync(store.dir(b), { recursive: true });
    expect(store.resolve('web')).toBe(b);
    store.releaseName('web', a);
    expect(store.resolve('web')).toBe(b);
    store.releaseName('web', b);
    expect(() => store.resolve('web')).toThrow(/no such container/);
    fs.rmSync(store.dir(b), { recursive: true });
  });

  it('refuses bad names and ids (no path tricks)', () => {
    expect(() => store.reserveName('../x', newContainerId())).toThrow(/invalid container name/);
    expect(() => store.dir('../../etc')).toThrow(/not 64 hex/);
  });

  it('resolves full ids, unique prefixes and names; ambiguous or unknown prefixes fail', () => {
    const id1 = `aa${newContainerId().slice(2)}`;
    const id2 = `ab${newContainerId().slice(2)}`;
    for (const id of [id1, id2]) {
      fs.mkdirSync(store.dir(id), { recursive: true });
      store.write(state(id));
    }
    expect(store.resolve(id1)).toBe(id1);
    expect(store.resolve(id2.slice(0, 5))).toBe(id2);
    expect(() => store.resolve('a')).toThrow(/matches 2 containers/);
    let err: unknown;
    try {
      store.resolve('ffffffffffff');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'ECONTAINER_UNKNOWN')).toBe(true);
  });

  it('writes state atomically (no temp files left) and update() applies changes', () => {
    const id = newContainerId();
    fs.mkdirSync(store.dir(id));
    store.write(state(id));
    store.update(id, (s) => {
      s.status = 'running';
    });
    expect(store.read(id)?.status).toBe('running');
    expect(fs.readdirSync(store.dir(id))).toEqual(['state.json']);
    fs.rmSync(store.dir(id), { recursive: true });
    expect(store.update(id, () => {})).toBeUndefined();
  });

  it('writeFileAtomic replaces the whole file', () => {
    const f = path.join(tmp, 'atomic');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    expect(fs.readFileSync(f, 'utf8')).toBe('two');
  });
});

describe('liveness', () => {
  it('reads process start times and tells a live pid from a reused one', async () => {
    const child = spawn('sleep', ['30']);
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid as number;
    const start = processStartTime(pid);
    expect(start).toBeGreaterThan(0);
    expect(isAlive(pid, start)).toBe(true);
    expect(isAlive(pid, (start as number) + 1)).toBe(false);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(isAlive(pid, start)).toBe(false);
  });

  it('a running state whose monitor is gone reads as stopped with an unknown exit code', () => {
    const s = state(newContainerId(), { status: 'running', monitorPid: 2 ** 22 + 12345, monitorStartTime: 1, pid: 99 });
    const info = describeState(s);
    expect(info.status).toBe('stopped');
    expect(info.exitCode).toBeNull();
    expect(info.statusText).toBe('Exited (unknown)');
    const me = describeState(state(s.id, { status: 'running', monitorPid: process.pid, monitorStartTime: processStartTime(process.pid) as number }));
    expect(me.status).toBe('running');
    expect(me.statusText).toBe('Up');
  });

  it('status predicates follow the state machine', () => {
    expect([canStart({ status: 'created' }), canStart({ status: 'running' })]).toEqual([true, false]);
    expect([canKill({ status: 'running' }), canKill({ status: 'stopped' })]).toEqual([true, false]);
    expect([canDelete({ status: 'running' }), canDelete({ status: 'running' }, true), canDelete({ status: 'stopped' })]).toEqual([false, true, true]);
  });
});

describe('signalNumber and timing', () => {
  it('understands names with and without SIG, numbers, and refuses junk', () => {
    expect(signalNumber('SIGTERM')).toBe(15);
    expect(signalNumber('kill')).toBe(9);
    expect(signalNumber('10')).toBe(10);
    expect(signalNumber(2)).toBe(2);
    expect(signalNumber('RTMIN+2')).toBe(36);
    expect(() => signalNumber('SIGNOPE')).toThrow('invalid signal "SIGNOPE"');
    expect(() => signalNumber(99)).toThrow();
  });
  it('formats phase deltas in time order', () => {
    expect(formatTiming([['run', 1000], ['exec', 1050.5], ['spawned', 1010]])).toBe('berth timing (ms): run 0 | spawned +10.0 | exec +40.5 | total 50.5\n');
  });
});
