import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cgroupMountPlan, deviceNodes, etcFileContents } from './host.js';
import { LogWriter, readLogs } from './logs.js';
import { StateStore, newContainerId } from './state.js';
import type { RuntimeContext } from './context.js';
import { mountsUnder, removeTree } from './delete.js';

const HYBRID = `25 21 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
28 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
29 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
30 21 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
`;

describe('cgroupMountPlan', () => {
  it('lists the v1 hierarchies and the hybrid unified tree', () => {
    expect(cgroupMountPlan(HYBRID)).toEqual({
      version: 1,
      hierarchies: [
        { name: 'unified', fstype: 'cgroup2', options: '' },
        { name: 'systemd', fstype: 'cgroup', options: 'xattr,name=systemd' },
        { name: 'cpu,cpuacct', fstype: 'cgroup', options: 'cpu,cpuacct' },
        { name: 'memory', fstype: 'cgroup', options: 'memory' },
      ],
    });
  });
  it('is cgroup2 when the unified tree is mounted at /sys/fs/cgroup, none without cgroups', () => {
    expect(cgroupMountPlan('30 21 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n')).toEqual({ version: 2 });
    expect(cgroupMountPlan('')).toEqual({ version: 'none' });
  });
});

describe('etcFileContents', () => {
  it('writes hostname and a localhost hosts file, and drops loopback nameservers for network none', () => {
    const f = etcFileContents({ hostname: 'c0ffee', network: 'none' });
    expect(f.hostname).toBe('c0ffee\n');
    expect(f.hosts).toContain('127.0.0.1\tlocalhost\n');
    expect(f.hosts).toContain('127.0.1.1\tc0ffee\n');
    expect(f.resolvConf).not.toMatch(/^\s*nameserver\s+127\./m);
  });
  it('takes the texts the network setup made when the spec has them', () => {
    const f = etcFileContents({ hostname: 'c0ffee', network: 'none', etc: { hosts: '10.88.0.2\tc0ffee\n', resolvConf: 'nameserver 10.88.0.1\n' } });
    expect(f).toEqual({ hostname: 'c0ffee\n', hosts: '10.88.0.2\tc0ffee\n', resolvConf: 'nameserver 10.88.0.1\n' });
  });
  it('copies the host files with network host', () => {
    const f = etcFileContents({ hostname: 'h', network: 'host' });
    expect(f.hosts).toBe(fs.existsSync('/etc/hosts') ? fs.readFileSync('/etc/hosts', 'utf8') : expect.any(String));
    expect(f.resolvConf).toBe(fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '');
  });
});

describe('deviceNodes', () => {
  it('has docker defaults, plus host devices when privileged', () => {
    expect(deviceNodes(false).map((d) => d.name)).toEqual(['null', 'zero', 'full', 'random', 'urandom', 'tty']);
    const priv = deviceNodes(true);
    expect(priv.length).toBeGreaterThanOrEqual(6);
    expect(priv.find((d) => d.name === 'null')).toMatchObject({ major: 1, minor: 3 });
    expect(priv.some((d) => d.name === 'ptmx' || d.name === 'console')).toBe(false);
  });
});

describe('logs', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logs-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('writes json-lines per output line, keeps streams apart, and reads them back', async () => {
    const store = new StateStore(tmp);
    const id = newContainerId();
    fs.mkdirSync(store.dir(id));
    const w = new LogWriter(store.file(id, 'container.log'));
    w.write('stdout', Buffer.from('hel'));
    w.write('stderr', Buffer.from('oops\n'));
    w.write('stdout', Buffer.from('lo\nwor'));
    w.write('stdout', Buffer.from([0xc3]));
    w.write('stdout', Buffer.from([0xa9]));
    w.end('stdout');
    w.close();
    const ctx = { store } as RuntimeContext;
    const entries: Array<{ log: string; stream: string }> = [];
    for await (const e of readLogs(ctx, id)) entries.push(e as { log: string; stream: string });
    expect(entries.map((e) => [e.stream, e.log])).toEqual([
      ['stderr', 'oops\n'],
      ['stdout', 'hello\n'],
      ['stdout', 'woré'],
    ]);
  });
});

describe('removeTree', () => {
  it('removes read-only and mode-000 directories', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rm-'));
    fs.mkdirSync(path.join(d, 'a/b'), { recursive: true });
    fs.writeFileSync(path.join(d, 'a/b/f'), 'x');
    fs.chmodSync(path.join(d, 'a/b'), 0o000);
    fs.chmodSync(path.join(d, 'a'), 0o500);
    removeTree(d);
    expect(fs.existsSync(d)).toBe(false);
  });
  it('removes a tree of files, links, fifos and nested directories, and a tree that is gone already', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rm-'));
    fs.mkdirSync(path.join(d, 'a/b/c'), { recursive: true });
    fs.writeFileSync(path.join(d, 'a/b/c/f'), 'x');
    fs.symlinkSync('/etc', path.join(d, 'a/etc'));
    fs.symlinkSync('b', path.join(d, 'a/dirlink'));
    fs.linkSync(path.join(d, 'a/b/c/f'), path.join(d, 'hard'));
    execFileSync('mkfifo', [path.join(d, 'a/fifo')]);
    removeTree(d);
    expect(fs.existsSync(d)).toBe(false);
    // The symlinks were removed, not followed.
    expect(fs.existsSync('/etc/passwd')).toBe(true);
    removeTree(d);
  });
  it('finds mount points below a directory (and refuses to remove through them)', () => {
    const info = '1 0 0:1 / /srv/c/rootfs/proc rw - proc proc rw\n2 0 0:2 / /srv/other rw - tmpfs t rw\n';
    expect(mountsUnder('/srv/c', info)).toEqual(['/srv/c/rootfs/proc']);
    expect(() => removeTree('/proc')).toThrow(/is mounted/);
  });
});
