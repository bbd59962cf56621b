import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { enterCommand, helperCommand, hostId, hostPidIn } from './userns.js';
import type { UserNamespacePlan } from './userns.js';

const plan = (p: Partial<UserNamespacePlan>): UserNamespacePlan => ({ uidMappings: [], gidMappings: [], newPid: true, waitForInit: false, ...p });

describe('user namespace helper', () => {
  it('makes the user namespace (then the pid one) with unshare, or joins one with nsenter, ending in the init command', () => {
    const init = ['/proc/self/fd/5', '/x/init/main.cjs'];
    const made = helperCommand(plan({}), init, 6);
    expect(made.file).toBe('/usr/bin/unshare');
    expect(made.args.slice(0, 6)).toEqual(['--user', '--keep-caps', '--pid', '--', '/bin/sh', '-c']);
    expect(made.args.slice(-3)).toEqual(['berth-userns', ...init]);
    expect(helperCommand(plan({ newPid: false }), init, 6).args.slice(0, 3)).toEqual(['--user', '--keep-caps', '--']);
    const joined = helperCommand(plan({ path: '/proc/7/ns/user' }), init, 6);
    expect(joined.file).toBe('/usr/bin/nsenter');
    expect(joined.args.slice(0, 5)).toEqual(['--user=/proc/7/ns/user', '--', '/usr/bin/unshare', '--pid', '--']);
    expect(helperCommand(plan({ path: '/proc/7/ns/user', newPid: false }), init, 6).args.slice(0, 3)).toEqual(['--user=/proc/7/ns/user', '--', '/bin/sh']);
    // Namespaces given by path: joined by nsenter before the user namespace is made (runc's order) or joined (nsenter's order).
    const joinFirst = [
      { type: 'network', path: '/run/netns/n' },
      { type: 'ipc', path: '/x/ipc' },
    ] as const;
    const first = helperCommand(plan({ joinFirst }), init, 6);
    expect(first.file).toBe('/usr/bin/nsenter');
    expect(first.args.slice(0, 8)).toEqual(['--net=/run/netns/n', '--ipc=/x/ipc', '--', '/usr/bin/unshare', '--user', '--keep-caps', '--pid', '--']);
    expect(helperCommand(plan({ joinFirst, path: '/proc/7/ns/user' }), init, 6).args.slice(0, 4)).toEqual(['--net=/run/netns/n', '--ipc=/x/ipc', '--user=/proc/7/ns/user', '--']);
    expect(() => helperCommand(plan({ joinFirst: [{ type: 'mount', path: '/x/mnt' }] }), init, 6)).toThrow('cannot join a mount namespace');
    // exec: the init's network, ipc, uts and cgroup namespaces, then its user namespace.
    expect(enterCommand(42, init)).toEqual({
      file: '/usr/bin/nsenter',
      args: ['--net=/proc/42/ns/net', '--ipc=/proc/42/ns/ipc', '--uts=/proc/42/ns/uts', '--cgroup=/proc/42/ns/cgroup', '--user=/proc/42/ns/user', '--', ...init],
    });
  });

  it('its script is valid sh, and only a waiting helper closes the init\'s fds and waits', () => {
    const script = (p: UserNamespacePlan): string => {
      const args = helperCommand(p, ['true'], 7).args;
      return args[args.indexOf('-c') + 1] ?? '';
    };
    for (const wait of [false, true]) expect(spawnSync('/bin/sh', ['-n', '-c', script(plan({ waitForInit: wait }))]).status).toBe(0);
    expect(script(plan({ waitForInit: true }))).toContain('exec 0<&- 1>&- 2>&- 3>&- 4<&- 5>&- 6>&-\nwait "$init"');
    expect(script(plan({ waitForInit: false }))).not.toContain('wait');
  });

  it('hostPidIn: a pid of its own pid namespace is the host pid already; one no process has there is an error', () => {
    const fd = fs.openSync('/proc/self/ns/pid', 'r');
    try {
      expect(hostPidIn(process.pid, fd)).toBe(process.pid);
    } finally {
      fs.closeSync(fd);
    }
    const net = fs.openSync('/proc/self/ns/net', 'r');
    try {
      expect(() => hostPidIn(1, net)).toThrow('no process 1 in the joined pid namespace');
    } finally {
      fs.closeSync(net);
    }
  });

  it('reads the host id of an id from a uid_map', () => {
    const map = '         0     100000      65536\n     65536       5000         10\n';
    expect(hostId(map, 0)).toBe(100000);
    expect(hostId(map, 65535)).toBe(165535);
    expect(hostId(map, 65537)).toBe(5001);
    expect(hostId(map, 65546)).toBeUndefined();
    expect(hostId('', 0)).toBeUndefined();
  });
});
