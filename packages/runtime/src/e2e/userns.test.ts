/**
 * berth-runtime with a user namespace (linux.namespaces type user, uidMappings/gidMappings
 * `0 100000 65536`), end to end as root: the maps, the ids and the owners seen inside and on the
 * host, the namespaces the user namespace owns, exec into it, the create/start/state/kill/delete
 * lifecycle under a subreaper (the engine's part), a user namespace joined by path, and
 * podman's --uidmap.
 */
import * as fs from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEntrypoints, haveTool, tempDir, until } from '../test-support/fixtures.js';
import { OciTestBed, PODMAN_ULIMITS as ulimits, berthRuntime as br, berthRuntimeOk as brOk, deleteAllContainers, ociRuntimeUnavailable, usePrivatePodman } from '../test-support/oci-runtime.js';
import type { Config } from '../test-support/oci-runtime.js';

const unavailable = ociRuntimeUnavailable() ?? (fs.existsSync('/proc/self/ns/user') ? undefined : 'no user namespaces in this kernel');
if (unavailable) console.warn(`skipping the berth-runtime user namespace tests: ${unavailable}`);

const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
const UID_MAP = /^\s*0\s+100000\s+65536\s*$/;

let dir = '';
let bed: OciTestBed;
let n = 0;
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const cid = (name: string): string => `userns-${name}-${tag}`;
const roots: string[] = [];

function stateRoot(): string {
  const r = path.join(dir, `state-${++n}`);
  roots.push(r);
  return r;
}

/** A user namespace with the test's maps added to `c`. */
function withUserNamespace(c: Config): void {
  c['linux'].namespaces.push({ type: 'user' });
  c['linux'].uidMappings = MAP;
  c['linux'].gidMappings = MAP;
}

const state = (root: string, id: string): { status: string; pid: number } => JSON.parse(brOk(root, ['state', id])) as { status: string; pid: number };
const nsOf = (pid: number | 'self', kind: string): string => fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
/** What readlink /proc/self/ns/KIND shows inside a process in the namespace that the nsfs file `file` holds. */
const nsInode = (file: string, kind: string): string => `${kind}:[${fs.statSync(file).ino}]`;

describe.skipIf(unavailable !== undefined)('berth-runtime with a user namespace', () => {
  beforeAll(() => {
    ensureEntrypoints();
    dir = tempDir('userns');
    // The container's root is uid 100000 on the host: it must be able to reach the bundle (as with runc);
    // mount points must exist in the rootfs (it cannot make them in a directory of the host's root).
    fs.chmodSync(dir, 0o755);
    bed = new OciTestBed(dir);
  }, 120_000);

  afterAll(() => {
    deleteAllContainers(roots);
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('run: the maps, uid and gid 0 inside, the rootfs owned by nobody, files made inside owned by host uid 100000, namespaces owned by it', () => {
    const out = bed.next('out');
    fs.mkdirSync(out, { mode: 0o777 });
    fs.chmodSync(out, 0o777);
    const b = bed.bundle((c) => {
      withUserNamespace(c);
      c['mounts'].push({ destination: '/srv', type: 'bind', source: out, options: ['rbind', 'rw'] });
      // CAP_SYS_ADMIN of the user namespace: enough to mount in the mount namespace it owns, nothing on the host.
      for (const set of ['bounding', 'effective', 'permitted'] as const) c['process'].capabilities[set].push('CAP_SYS_ADMIN');
      c['process'].args = [
        'sh',
        '-c',
        [
          'echo uid_map=$(cat /proc/self/uid_map)',
          'echo gid_map=$(cat /proc/self/gid_map)',
          'echo ids=$(id -u):$(id -g)',
          'echo pid=$$',
          'echo rootfs=$(stat -c %u:%g /bin/busybox)',
          'echo x > /dev/shm/f && echo shm=$(stat -c %u:%g /dev/shm/f)',
          'touch /srv/made-inside && echo out=$(stat -c %u:%g /srv/made-inside)',
          'touch /etc/probe 2>/dev/null; echo etc-write=$?',
          'echo null=$(stat -c %t:%T /dev/null) && echo written > /dev/null && echo null-ok',
          'mount -t tmpfs t /mnt && echo mount-ok',
          'exit 7',
        ].join('; '),
      ];
    });
    const r = br(stateRoot(), ['run', '--bundle', b, cid('run')]);
    expect(r.stderr).toBe('');
    const lines = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(lines['uid_map']).toMatch(UID_MAP);
    expect(lines['gid_map']).toMatch(UID_MAP);
    expect(lines['ids']).toBe('0:0');
    expect(lines['pid']).toBe('1');
    // The rootfs belongs to host uid 0, which the namespace does not map (runc shows the same; engines chown or idmap it).
    expect(lines['rootfs']).toBe('65534:65534');
    expect(lines['shm']).toBe('0:0');
    expect(lines['out']).toBe('0:0');
    expect(fs.statSync(path.join(out, 'made-inside'))).toMatchObject({ uid: 100000, gid: 100000 });
    // Root inside has no power over the host's files.
    expect(lines['etc-write']).toBe('1');
    expect(fs.existsSync(path.join(b, 'rootfs', 'etc', 'probe'))).toBe(false);
    // /dev/null is the host's node, bind-mounted (mknod is refused in a user namespace).
    expect(lines['null']).toBe('1:3');
    expect(r.stdout).toContain('null-ok\n');
    // The mount namespace is the user namespace's: its root may mount.
    expect(r.stdout).toContain('mount-ok\n');
    expect(r.status).toBe(7);
  }, 90_000);

  it('create under a subreaper, then state, exec, start, kill and delete: the init reparented to the engine, its status reaped there', async () => {
    const root = stateRoot();
    const id = cid('life');
    const b = bed.bundle((c) => {
      withUserNamespace(c);
      c['process'].args = ['sh', '-c', 'echo started > /dev/shm/started; exec sleep 1000'];
    });
    const created = await bed.createUnderSubreaper(root, b, id);
    expect(created.stderr()).toBe('');
    const s = state(root, id);
    expect(s.status).toBe('created');
    expect(fs.readFileSync(`/proc/${s.pid}/uid_map`, 'utf8')).toMatch(UID_MAP);
    expect(nsOf(s.pid, 'user')).not.toBe(nsOf('self', 'user'));
    // Host view of the init's credentials: uid 0 inside is 100000 here.
    expect(fs.readFileSync(`/proc/${s.pid}/status`, 'utf8')).toMatch(/^Uid:\s+100000\s+100000\s+100000\s+100000$/m);

    brOk(root, ['start', id]);
    await until(() => state(root, id).status === 'running' && fs.readlinkSync(`/proc/${s.pid}/exe`).endsWith('/busybox'));
    const e = br(root, ['exec', id, 'sh', '-c', 'echo $(id -u):$(id -g) $(cat /proc/self/uid_map) $(readlink /proc/self/ns/user); cat /dev/shm/started']);
    expect(e.stderr).toBe('');
    expect(e.status).toBe(0);
    const [ids, inside, outside, size, userns] = e.stdout.split('\n')[0]?.trim().split(/\s+/) ?? [];
    expect([ids, inside, outside, size]).toEqual(['0:0', '0', '100000', '65536']);
    expect(userns).toBe(nsOf(s.pid, 'user'));
    expect(e.stdout).toContain('started\n');

    brOk(root, ['kill', id, 'KILL']);
    await until(() => created.reaped().includes(`\n${s.pid} 137\n`));
    expect(state(root, id).status).toBe('stopped');
    brOk(root, ['delete', id]);
    expect(br(root, ['state', id]).status).not.toBe(0);
  }, 90_000);

  it('a user namespace joined by path: the same namespace and maps, a pid namespace of its own', async () => {
    const root = stateRoot();
    const holder = cid('holder');
    const h = bed.bundle((c) => {
      withUserNamespace(c);
      c['process'].args = ['sleep', '1000'];
    });
    const created = await bed.createUnderSubreaper(root, h, holder);
    expect(created.stderr()).toBe('');
    const hpid = state(root, holder).pid;
    const b = bed.bundle((c) => {
      c['linux'].namespaces.push({ type: 'user', path: `/proc/${hpid}/ns/user` });
      c['process'].args = ['sh', '-c', 'echo $(readlink /proc/self/ns/user) $(readlink /proc/self/ns/pid) $(id -u) $$; cat /proc/self/uid_map'];
    });
    const r = br(root, ['run', '--bundle', b, cid('joiner')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [first, map] = r.stdout.split('\n');
    const [userns, pidns, uid, pid] = first?.split(' ') ?? [];
    expect(userns).toBe(nsOf(hpid, 'user'));
    expect(pidns).not.toBe(nsOf(hpid, 'pid'));
    expect([uid, pid]).toEqual(['0', '1']);
    expect(map).toMatch(UID_MAP);

    // The user and the pid namespace by path (a pod sharing both): the helper reports the init's pid in
    // that pid namespace's numbers; the state must name its host pid (the one put in the container's cgroup).
    const both = cid('joiner-pid');
    const jb = bed.bundle((c) => {
      c['linux'].namespaces = (c['linux'].namespaces as Array<{ type: string }>).filter((ns) => ns.type !== 'pid');
      c['linux'].namespaces.push({ type: 'user', path: `/proc/${hpid}/ns/user` }, { type: 'pid', path: `/proc/${hpid}/ns/pid` });
      c['process'].args = ['sleep', '1000'];
    });
    const joinedBoth = await bed.createUnderSubreaper(root, jb, both);
    expect(joinedBoth.stderr()).toBe('');
    const jpid = state(root, both).pid;
    expect([nsOf(jpid, 'user'), nsOf(jpid, 'pid')]).toEqual([nsOf(hpid, 'user'), nsOf(hpid, 'pid')]);
    expect(fs.readFileSync(`/proc/${jpid}/cgroup`, 'utf8')).toContain(both);
    brOk(root, ['start', both]);
    await until(() => state(root, both).status === 'running' && fs.readlinkSync(`/proc/${jpid}/exe`).endsWith('/busybox'));
    // Its process is not PID 1 there: the holder's init is, seen from the exec'd process too.
    expect(fs.readFileSync(`/proc/${jpid}/status`, 'utf8')).not.toMatch(/^NSpid:.*\s1$/m);
    const ps = br(root, ['exec', both, 'sh', '-c', 'echo $(id -u) $(readlink /proc/self/ns/pid); cat /proc/1/cmdline | tr "\\0" " "; echo']);
    expect(ps.stderr).toBe('');
    const [who, one] = ps.stdout.split('\n');
    expect(who).toBe(`0 ${nsOf(hpid, 'pid')}`);
    expect(one?.trim()).toBe(fs.readFileSync(`/proc/${hpid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim());
    brOk(root, ['delete', '--force', both]);
    brOk(root, ['delete', '--force', holder]);
    await until(() => created.reaped().includes(`\n${hpid} 137\n`));
  }, 90_000);

  it.skipIf(!haveTool('ip'))('namespaces given by path with a new user namespace: a netns of `ip netns add`, ipc and uts bind-mounted files (run, then create, exec, kill); pid by path refused', async () => {
    const netns = `berth-unj-${tag}`;
    const ipcFile = bed.next('ipcns');
    const utsFile = bed.next('utsns');
    fs.writeFileSync(ipcFile, '');
    fs.writeFileSync(utsFile, '');
    try {
      // Namespaces the host's user namespace owns, as CNI's and podman's are: the runtime joins them before making the user namespace.
      execFileSync('ip', ['netns', 'add', netns]);
      execFileSync('unshare', [`--ipc=${ipcFile}`, `--uts=${utsFile}`, 'hostname', 'given-uts']);
      const want = { net: nsInode(`/run/netns/${netns}`, 'net'), ipc: nsInode(ipcFile, 'ipc'), uts: nsInode(utsFile, 'uts') };
      const report = 'for n in net ipc uts user; do echo $n=$(readlink /proc/self/ns/$n); done; echo uid_map=$(cat /proc/self/uid_map); echo host=$(hostname); echo ids=$(id -u):$(id -g)';
      const givenNamespaces = (c: Config, script: string): void => {
        withUserNamespace(c);
        delete c['hostname']; // the given uts namespace keeps its own (its owner is the host's user namespace)
        const rest = (c['linux'].namespaces as Array<{ type: string }>).filter((ns) => !['network', 'ipc', 'uts'].includes(ns.type));
        c['linux'].namespaces = [...rest, { type: 'network', path: `/run/netns/${netns}` }, { type: 'ipc', path: ipcFile }, { type: 'uts', path: utsFile }];
        c['process'].args = ['sh', '-c', script];
      };
      const b = bed.bundle((c) => givenNamespaces(c, 'exec sleep 1000'));
      const inside = (out: string): Record<string, string> => Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      const check = (lines: Record<string, string>, userns: string): void => {
        expect([lines['net'], lines['ipc'], lines['uts']]).toEqual([want.net, want.ipc, want.uts]);
        expect(lines['user']).toBe(userns);
        expect(lines['uid_map']).toMatch(UID_MAP);
        expect(lines['host']).toBe('given-uts');
        expect(lines['ids']).toBe('0:0');
      };

      const root = stateRoot();
      const id = cid('nspath');
      const created = await bed.createUnderSubreaper(root, b, id);
      expect(created.stderr()).toBe('');
      const s = state(root, id);
      expect(nsOf(s.pid, 'user')).not.toBe(nsOf('self', 'user'));
      expect(fs.readFileSync(`/proc/${s.pid}/uid_map`, 'utf8')).toMatch(UID_MAP);
      brOk(root, ['start', id]);
      await until(() => state(root, id).status === 'running' && fs.readlinkSync(`/proc/${s.pid}/exe`).endsWith('/busybox'));
      // exec enters the same namespaces: those given by path (owned by the host's user namespace) before the container's user namespace.
      const e = br(root, ['exec', id, 'sh', '-c', report]);
      expect(e.stderr).toBe('');
      expect(e.status).toBe(0);
      check(inside(e.stdout), nsOf(s.pid, 'user'));
      // The container's process itself, seen from the host.
      expect({ net: nsOf(s.pid, 'net'), ipc: nsOf(s.pid, 'ipc'), uts: nsOf(s.pid, 'uts') }).toEqual(want);
      brOk(root, ['kill', id, 'KILL']);
      await until(() => created.reaped().includes(`\n${s.pid} 137\n`));
      brOk(root, ['delete', id]);

      // run: the same bundle in the foreground, its output read.
      const rb = bed.bundle((c) => givenNamespaces(c, report));
      const r = br(root, ['run', '--bundle', rb, cid('nspath-run')]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const lines = inside(r.stdout);
      check(lines, lines['user'] ?? '');
      expect(lines['user']).not.toBe(nsOf('self', 'user'));

      // A pid namespace given by path cannot be the new user namespace's (no /proc of it could be mounted): refused at create.
      const pb = bed.bundle((c) => {
        withUserNamespace(c);
        (c['linux'].namespaces as Array<{ type: string; path?: string }>).forEach((ns) => ns.type === 'pid' && (ns.path = '/proc/1/ns/pid'));
      });
      const refused = br(root, ['create', '--bundle', pb, cid('nspath-pid')]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('linux.namespaces pid with a path and a new user namespace');
      expect(br(root, ['state', cid('nspath-pid')]).status).not.toBe(0);
    } finally {
      for (const f of [ipcFile, utsFile]) spawnSync('umount', [f]);
      spawnSync('ip', ['netns', 'delete', netns]);
    }
    expect(fs.existsSync(`/run/netns/${netns}`)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(ipcFile);
  }, 120_000);
});

const podmanUnavailable = unavailable ?? (haveTool('podman') ? undefined : 'podman is not installed');

describe.skipIf(podmanUnavailable !== undefined)('podman --uidmap with --runtime berth-runtime', () => {
  const priv = usePrivatePodman('userns-podman');

  it('runs the container in a user namespace with the maps podman gives it (and the rootfs podman chowned)', () => {
    const map = ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'];
    const sh = 'echo $(id -u):$(id -g) $$ $(stat -c %u /bin/busybox); cat /proc/self/uid_map /proc/self/gid_map; exit 3';
    const r = spawnSync('podman', [...priv.args, 'run', '--rm', '--network', 'none', ...ulimits, ...map, 'alpine', 'sh', '-c', sh], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    const [line, uidMap, gidMap] = r.stdout.split('\n');
    expect(line).toBe('0:0 1 0');
    expect(uidMap).toMatch(UID_MAP);
    expect(gidMap).toMatch(UID_MAP);
    expect(r.status).toBe(3);
  }, 180_000);
});
