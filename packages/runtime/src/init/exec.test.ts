import { describe, expect, it } from 'vitest';
import { CLONE_NEWNS, CLONE_NEWNET, ExecveReached, PR_SET_PDEATHSIG, RecordingSyscalls, TIOCSCTTY } from '@berth/sys';
import type { ContainerSpec } from '../spec/types.js';
import type { InitMessage } from './config.js';
import { runExec } from './exec.js';
import type { ExecConfig } from './exec.js';
import type { InitChannel } from './sequence.js';

const spec: ContainerSpec = {
  version: 1,
  rootfs: '/r',
  process: {
    args: ['sh'],
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    noNewPrivileges: false,
    capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
    rlimits: [],
  },
  hostname: '',
  mounts: [],
  readonlyRootfs: false,
  network: 'none',
  namespaces: ['pid', 'mount', 'network'],
  maskedPaths: [],
  readonlyPaths: [],
  seccomp: null,
  resources: { devices: 'default' },
  init: false,
  privileged: false,
};

function exec(over: Partial<ExecConfig>): { sys: RecordingSyscalls; sent: InitMessage[]; securityAt: number } {
  const sys = new RecordingSyscalls({ files: { '/': 'dir', '/bin': 'dir', '/bin/sh': { kind: 'file', mode: 0o755, uid: 0, gid: 0, size: 1, rdev: 0 } } });
  const sent: InitMessage[] = [];
  const channel: InitChannel = { send: (m) => sent.push(m), waitForParent: () => undefined };
  let securityAt = -1;
  expect(() =>
    runExec(sys, { version: 1, pid: 42, namespaces: ['network', 'mount'], spec, seccompProgram: null, ...over }, channel, () => {
      securityAt = sys.calls.length;
    }),
  ).toThrow(ExecveReached);
  return { sys, sent, securityAt };
}

describe('runExec over RecordingSyscalls', () => {
  it('joins the container namespaces (mount last) and clears its parent-death signal before the security step and execve', () => {
    const { sys, securityAt } = exec({});
    expect(sys.callsOf('setns').map((a) => a[1])).toEqual([CLONE_NEWNET, CLONE_NEWNS]);
    const names = sys.names();
    const clear = sys.calls.findIndex((c) => c.name === 'prctl' && c.args[0] === PR_SET_PDEATHSIG && c.args[1] === 0);
    expect(clear).toBeGreaterThan(names.lastIndexOf('setns'));
    expect(clear).toBeLessThan(securityAt);
    expect(names[names.length - 1]).toBe('execve');
  });

  it('with tty, makes the pty slave its controlling terminal and stdio and reports the master', () => {
    const { sys, sent } = exec({ tty: true });
    expect(sys.callsOf('open')).toContainEqual(['/dev/ptmx', expect.any(Number), 0]);
    expect(sys.callsOf('ioctl').some((a) => a[1] === TIOCSCTTY)).toBe(true);
    expect(sys.callsOf('dup2').map((a) => a[1])).toEqual([0, 1, 2]);
    expect(sent[0]).toMatchObject({ type: 'pty' });
  });
});
