import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { bundleToSpec } from './bundle.js';
import type { OciConfig } from './bundle.js';
import { defaultConfig } from './features.js';

/** A config as podman 4 writes it (trimmed): what must map without a refusal. */
function podmanLike(): OciConfig {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      user: { uid: 0, gid: 0, umask: 18, additionalGids: [0, 10] },
      args: ['echo', 'hi'],
      env: ['PATH=/usr/bin:/bin', 'container=podman'],
      cwd: '/',
      capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_CHOWN', 'CAP_KILL'], permitted: ['CAP_CHOWN', 'CAP_KILL'] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      oomScoreAdj: 100,
    },
    root: { path: '/var/lib/containers/x/rootfs' },
    hostname: 'be78d2869a4b',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/etc/hosts', type: 'bind', source: '/run/x/hosts', options: ['bind', 'rprivate'] },
      { destination: '/dev/shm', type: 'bind', source: '/run/x/shm', options: ['bind', 'rprivate', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    annotations: { 'io.container.manager': 'libpod' },
    linux: {
      sysctl: { 'net.ipv4.ping_group_range': '0 0' },
      resources: { devices: [{ allow: false, access: 'rwm' }], pids: { limit: 2048 }, memory: { limit: 1 << 26, swap: 1 << 27 }, cpu: { quota: 50000, period: 100000 } },
      cgroupsPath: '/libpod_parent/libpod-be78d2869a4b',
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        syscalls: [
          { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
          { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
        ],
      },
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
    },
  };
}

function refusal(edit: (c: OciConfig) => void): string {
  const c = podmanLike();
  edit(c);
  try {
    bundleToSpec(c, '/bundle');
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

describe('bundleToSpec', () => {
  it('keeps hooks, namespaces joined by path, and the terminal with its size', () => {
    const c = podmanLike();
    c.hooks = { createRuntime: [{ path: '/usr/bin/hook', args: ['hook', 'a'], env: ['X=1'], timeout: 5 }], poststop: [] };
    c.linux?.namespaces?.push({ type: 'cgroup', path: '/proc/1/ns/cgroup' });
    const net = c.linux?.namespaces?.find((n) => n.type === 'network');
    if (net !== undefined) net.path = '/run/netns/x';
    if (c.process !== undefined) {
      c.process.terminal = true;
      c.process.consoleSize = { height: 30, width: 100 };
    }
    const b = bundleToSpec(c, '/bundle');
    expect(b.hooks).toEqual({ createRuntime: [{ path: '/usr/bin/hook', args: ['hook', 'a'], env: ['X=1'], timeout: 5 }] });
    expect(b.joinNamespaces).toEqual([
      { type: 'network', path: '/run/netns/x' },
      { type: 'cgroup', path: '/proc/1/ns/cgroup' },
    ]);
    expect(b.spec.namespaces).toContain('cgroup');
    expect(b.cgroupNamespace).toBe(false);
    expect(b.terminal).toBe(true);
    expect(b.consoleSize).toEqual({ height: 30, width: 100 });
  });

  it("maps podman's config.json onto a ContainerSpec", () => {
    const b = bundleToSpec(podmanLike(), '/bundle');
    expect(b.spec.process).toMatchObject({ args: ['echo', 'hi'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [0, 10] } });
    expect(b.spec.process.capabilities.bounding).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(b.spec.namespaces).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(b.spec.network).toBe('none');
    // The standard mounts are berth's own; the binds are kept, with their options.
    expect(b.spec.mounts).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/run/x/hosts', options: ['bind', 'rprivate'] },
      { destination: '/dev/shm', type: 'bind', source: '/run/x/shm', options: ['bind', 'rprivate', 'nosuid', 'noexec', 'nodev'] },
    ]);
    expect(b.cgroupMount).toBe(true);
    expect(b.cgroupNamespace).toBe(true);
    expect(b.cgroup).toEqual({ parent: 'libpod_parent', name: 'libpod-be78d2869a4b' });
    expect(b.spec.resources).toEqual({ devices: 'default', pidsLimit: 2048, memory: 1 << 26, memorySwap: 1 << 27, cpus: 0.5 });
    expect(b.sysctl).toEqual({ 'net.ipv4.ping_group_range': '0 0' });
    expect(b.oomScoreAdj).toBe(100);
    expect(b.spec.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38 });
    expect(b.spec.seccomp?.syscalls.map((r) => r.names)).toEqual([['read', 'write', 'exit_group'], ['personality']]);
    expect(b.spec.rootfs).toBe('/var/lib/containers/x/rootfs');
  });

  it('resolves a relative root against the bundle and maps the default spec', () => {
    const b = bundleToSpec(defaultConfig(), '/srv/b');
    expect(b.spec.rootfs).toBe('/srv/b/rootfs');
    expect(b.spec.readonlyRootfs).toBe(true);
    expect(b.spec.hostname).toBe('berth');
  });

  it('maps a user namespace: a new one with its uid and gid maps, or one joined by path', () => {
    const c = podmanLike();
    c.linux?.namespaces?.push({ type: 'user' });
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    if (c.linux !== undefined) [c.linux.uidMappings, c.linux.gidMappings] = [map, [{ containerID: 0, hostID: 200000, size: 1 }]];
    const b = bundleToSpec(c, '/b');
    expect(b.userNamespace).toEqual({ uidMappings: map, gidMappings: [{ containerID: 0, hostID: 200000, size: 1 }] });
    expect(b.spec.namespaces).not.toContain('user');
    const j = podmanLike();
    j.linux?.namespaces?.push({ type: 'user', path: '/proc/7/ns/user' });
    expect(bundleToSpec(j, '/b').userNamespace).toEqual({ path: '/proc/7/ns/user', uidMappings: [], gidMappings: [] });
    expect(bundleToSpec(podmanLike(), '/b').userNamespace).toBeNull();
  });

  it('refuses, naming the field, what berth cannot honour', () => {
    expect(refusal((c) => c.linux?.namespaces?.push({ type: 'user' }))).toContain('a new user namespace needs linux.uidMappings and linux.gidMappings');
    expect(refusal((c) => c.linux?.namespaces?.splice(4, 1))).toContain('without its own mount namespace');
    expect(refusal((c) => c.linux !== undefined && (c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]))).toContain('need a user namespace');
    expect(refusal((c) => c.linux !== undefined && (c.linux.cgroupsPath = 'machine.slice:libpod:abc'))).toContain('systemd');
    expect(refusal((c) => c.linux !== undefined && (c.linux.sysctl = { 'vm.swappiness': '1' }))).toContain('not a namespaced sysctl');
    expect(refusal((c) => c.linux?.namespaces?.splice(1, 1))).toContain('net.ipv4.ping_group_range: needs a network namespace');
    expect(refusal((c) => c.linux?.resources?.devices?.push({ allow: false, type: 'c', major: 4, minor: 1, access: 'rwm' }))).toContain('deny c 4:1 rwm');
    expect(refusal((c) => c.linux?.resources !== undefined && (c.linux.resources.devices = [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]))).toContain('not starting with a deny-all rule');
    expect(refusal((c) => c.linux?.resources !== undefined && (c.linux.resources.cpu = { shares: 1 }))).toContain('linux.resources.cpu.shares 1');
    expect(refusal((c) => c.linux?.resources !== undefined && (c.linux.resources.cpu = { cpus: '0' }))).toContain('linux.resources.cpu.cpus');
    expect(
      refusal((c) => {
        c.linux?.namespaces?.push({ type: 'user' });
        if (c.linux !== undefined) [c.linux.uidMappings, c.linux.gidMappings] = [[{ containerID: 0, hostID: 1, size: 0 }], []];
      }),
    ).toContain('linux.uidMappings[0] needs containerID, hostID and size');
    expect(refusal((c) => c.linux?.resources?.memory !== undefined && (c.linux.resources.memory.reservation = 1))).toContain('memory.reservation');
    expect(refusal((c) => c.mounts?.push({ destination: '/x', type: 'nfs', source: 'h:/x' }))).toContain('mounts of type nfs');
    expect(refusal((c) => c.mounts?.push({ destination: '/proc', type: 'bind', source: '/proc' }))).toContain('mounts over /proc');
    expect(refusal((c) => c.mounts?.push({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['huge=always'] }))).toContain('"huge=always"');
    expect(refusal((c) => c.process !== undefined && (c.process.user.umask = 0o077))).toContain('umask 77');
    expect(refusal((c) => c.process !== undefined && (c.process.apparmorProfile = 'docker-default'))).toContain('process.apparmorProfile');
    expect(refusal((c) => c.linux?.namespaces?.push({ type: 'mount', path: '/proc/1/ns/mnt' }))).toMatch(/mount with a path .*multithreaded Node process/);
    expect(
      refusal((c) => {
        c.linux?.namespaces?.push({ type: 'user', path: '/proc/1/ns/user' });
        if (c.linux !== undefined) c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
      }),
    ).toContain('not one joined by path');
    expect(refusal((c) => c.linux?.namespaces?.push({ type: 'user', path: '/proc/1/ns/user' }, { type: 'user' }))).toContain('user given twice');
    const newUser = (c: OciConfig): void => {
      c.linux?.namespaces?.push({ type: 'user' });
      if (c.linux !== undefined) c.linux.uidMappings = c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    };
    const byPath = (c: OciConfig, type: string, file: string): void => {
      const n = c.linux?.namespaces?.find((x) => x.type === type);
      if (n !== undefined) n.path = `/proc/1/ns/${file}`;
      else c.linux?.namespaces?.push({ type, path: `/proc/1/ns/${file}` });
    };
    expect(refusal((c) => (newUser(c), byPath(c, 'pid', 'pid')))).toContain('pid with a path and a new user namespace');
    expect(refusal((c) => (newUser(c), byPath(c, 'cgroup', 'cgroup')))).toContain('cgroup with a path, a new user namespace and a /sys/fs/cgroup mount');
    expect(refusal((c) => c.linux?.namespaces?.push({ type: 'ipc' }))).toContain('ipc given twice');
    expect(refusal((c) => (c.hooks = { prestart: [{ path: 'relative' }] }))).toContain('hooks.prestart[0].path must be an absolute path');
    expect(refusal((c) => (c.hooks = { poststart: [{ path: '/bin/true', timeout: 0 }] }))).toContain('timeout must be a positive');
    expect(refusal((c) => (c.hooks = { postrun: [] }))).toContain('hooks.postrun is not supported');
    expect(refusal((c) => c.linux?.seccomp !== undefined && (c.linux.seccomp.flags = ['SECCOMP_FILTER_FLAG_LOG']))).toContain('linux.seccomp.flags');
    expect(refusal((c) => c.linux?.seccomp?.syscalls?.push({ names: ['x'], action: 'SCMP_ACT_NOTIFY' }))).toMatch(/SCMP_ACT_NOTIFY/);
    expect(refusal((c) => ((c as unknown as Record<string, unknown>)['windows'] = {}))).toContain('windows');
    expect(refusal((c) => c.linux !== undefined && (c.linux.rootfsPropagation = 'shared'))).toContain('rootfsPropagation shared');
    expect(refusal((c) => c.linux !== undefined && (c.linux.devices = [{ path: '/etc/x', type: 'c', major: 1, minor: 3 }]))).toContain('under /dev');
  });

  it("maps containerd's default config (ctr run): device allows beyond docker's list, cpu shares, a /run tmpfs, /<namespace>/<id>", () => {
    const c = podmanLike();
    c.hostname = '';
    c.mounts?.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] });
    if (c.linux !== undefined) {
      c.linux.cgroupsPath = '/default/t1';
      c.linux.resources = {
        devices: [
          { allow: false, access: 'rwm' },
          ...[[1, 3], [1, 8], [1, 7], [5, 0], [1, 5], [1, 9], [5, 1], [136, null], [5, 2]].map(([major, minor]) => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
        ],
        cpu: { shares: 1024 },
      };
    }
    const b = bundleToSpec(c, '/bundle');
    expect(b.cgroupExtras).toEqual({ extraDeviceRules: ['c 5:1 rwm'], cpuShares: 1024 });
    expect(b.spec.resources.devices).toBe('default');
    expect(b.cgroup).toEqual({ parent: 'default', name: 't1' });
    expect(b.spec.hostname).toBe('');
    expect(b.spec.mounts.map((m) => m.destination)).toContain('/run');
  });

  it('maps an allow-all rule after the deny-all to all devices', () => {
    const c = podmanLike();
    c.linux?.resources?.devices?.push({ allow: true, access: 'rwm' });
    expect(bundleToSpec(c, '/bundle').spec.resources.devices).toBe('all');
  });
});
