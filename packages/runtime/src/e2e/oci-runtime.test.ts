/**
 * berth-runtime end to end, as root: runc's command line on a bundle made from alpine
 * (skopeo + umoci, whose bundle has a runtime-spec config.json), driven the way engines
 * drive it (a subreaper standing in for conmon, testdata/subreaper.c), config.json
 * features read back from inside the container, refusals, and podman itself with
 * `--runtime berth-runtime` on a test-private store.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureEntrypoints, haveTool, tempDir, until } from '../test-support/fixtures.js';
import { BERTH_RUNTIME as BIN, OciTestBed, PODMAN_ULIMITS, berthRuntime, berthRuntimeOk as brOk, ociRuntimeUnavailable, usePrivatePodman } from '../test-support/oci-runtime.js';
import type { Config } from '../test-support/oci-runtime.js';

const unavailable = ociRuntimeUnavailable();
if (unavailable) console.warn(`skipping the berth-runtime tests: ${unavailable}`);

// The tests run berth-runtime with spawnSync, which blocks the worker: let its event loop turn
// between tests, or vitest's RPC to the worker ("Timeout calling onTaskUpdate") times out on a
// loaded machine although every test passed.
afterEach(() => new Promise<void>((resolve) => setTimeout(resolve, 10)));

let dir = '';
let rootfs = '';
let bed: OciTestBed;
let subreaper = '';
let n = 0;
/** Container ids are unique per run: their cgroups (berth-runtime/<id>) are host-wide. */
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const cid = (name: string): string => `${name}-${tag}`;

const br = (root: string, args: string[], input?: string): ReturnType<typeof berthRuntime> => berthRuntime(root, args, input === undefined ? {} : { input });

/** A bundle: a fresh copy of alpine's rootfs and umoci's config.json, edited by `edit`. */
const bundle = (edit: (c: Config) => void): string => bed.bundle(edit);

function stateRoot(): string {
  const r = path.join(dir, `state-${++n}`);
  return r;
}

/** A bundle exercising config.json features, printing what the container sees (one fact per line). */
function featureBundle(): string {
  return bundle((c) => {
    c['hostname'] = 'oci-host';
    c['root'].readonly = true;
    c['process'].env = ['PATH=/usr/bin:/bin', 'FOO=bar baz'];
    c['process'].cwd = '/srv';
    c['process'].user = { uid: 1234, gid: 2345, additionalGids: [3456] };
    // A non-root user keeps effective capabilities across execve only through the ambient set (the kernel's rule; runc's too).
    c['process'].capabilities = { bounding: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] };
    c['process'].rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }];
    c['mounts'].push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=4m', 'uid=1234'] }); // (runc resets a tmpfs's mode= to its mount point's: uid= works in both)
    c['linux'].maskedPaths = [...c['linux'].maskedPaths, '/etc/motd'];
    c['linux'].readonlyPaths = [...c['linux'].readonlyPaths];
    c['linux'].resources = { devices: [{ allow: false, access: 'rwm' }], memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 77 } };
    c['linux'].namespaces.push({ type: 'cgroup' });
    c['linux'].sysctl = { 'net.ipv4.ping_group_range': '0 4' };
    c['process'].args = [
      'sh',
      '-c',
      [
        'echo host=$(hostname)',
        'echo foo=$FOO',
        'echo cwd=$(pwd)',
        'echo ids=$(id -u):$(id -g):$(id -G)',
        'touch /rootfs-write 2>/dev/null && echo root=rw || echo root=ro',
        'echo x > /scratch/f && echo scratch=ok',
        'grep " /scratch " /proc/self/mountinfo | grep -o "tmpfs.*size=4096k" | head -1 | sed "s/^/scratchmount=/"',
        'echo motd=$(wc -c < /etc/motd)',
        'echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)',
        'echo pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)',
        'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status | tr -d "\\t" ',
        'echo nofile=$(ulimit -n):$(ulimit -Hn)',
        'echo ping=$(cat /proc/sys/net/ipv4/ping_group_range | tr "\\t" " ")',
      ].join('; '),
    ];
  });
}

const createUnderSubreaper = (root: string, b: string, id: string): Promise<{ reaped: () => string }> => bed.createUnderSubreaper(root, b, id);

describe.skipIf(unavailable !== undefined)('berth-runtime', () => {
  beforeAll(() => {
    ensureEntrypoints();
    dir = tempDir('ociruntime');
    bed = new OciTestBed(dir);
    rootfs = bed.rootfs;
    subreaper = bed.subreaper;
  }, 120_000);

  afterAll(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('create leaves the init set up and waiting (created), start runs the process (running), its exit status reaches the subreaper, delete removes it', async () => {
    const root = stateRoot();
    const c1 = cid('c1');
    const b = bundle((c) => {
      c['process'].args = ['sh', '-c', 'read line; exit 3'];
    });
    const pidFile = path.join(dir, `pid-${n}`);
    // The subreaper plays conmon: it runs create, becomes the init's parent when create exits, reaps it.
    const r = spawn(subreaper, [process.execPath, BIN, '--root', root, 'create', '--bundle', b, '--pid-file', pidFile, c1], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    r.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    let err = '';
    r.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    // create's process exits (reaped by the subreaper: the first line) while the container's init stays.
    await until(() => out.includes('\n') || (err !== '' ? err : false));
    expect(err).toBe('');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(out).toMatch(/^\d+ 0\n$/);
    expect(out).not.toContain(`${pid} `);
    const st1 = JSON.parse(brOk(root, ['state', c1])) as Record<string, unknown>;
    expect(st1).toMatchObject({ ociVersion: expect.any(String), id: c1, status: 'created', pid, bundle: b });
    expect(st1['annotations']).toMatchObject({ 'org.opencontainers.image.os': 'linux' });
    // The init is the subreaper's child now, and not yet the user's process.
    expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]).toBe(String(r.pid));
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain('read line');

    brOk(root, ['start', c1]);
    expect(JSON.parse(brOk(root, ['state', c1]))).toMatchObject({ status: 'running', pid });
    // The same pid now runs the user's process (execve'd by the init).
    await until(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('read line'));
    expect(br(root, ['start', c1])).toMatchObject({ status: 1, stderr: expect.stringContaining('running') });
    // runc's list entries: the state plus rootfs, created and owner.
    expect(JSON.parse(brOk(root, ['list', '--format', 'json']))).toEqual([
      expect.objectContaining({ id: c1, status: 'running', pid, bundle: b, rootfs: path.join(b, 'rootfs'), created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), owner: 'root' }),
    ]);

    // Its stdin is the one create was given (the subreaper's pipe): one line lets it exit 3.
    r.stdin.end('go\n');
    // 'close', not 'exit': the subreaper's last line may still be in the pipe when it has exited.
    const done = new Promise<number | null>((resolve) => r.once('close', resolve));
    expect(await done).toBe(0);
    expect(out).toContain(`${pid} 3`);
    expect(JSON.parse(brOk(root, ['state', c1]))).toMatchObject({ status: 'stopped' });
    expect(JSON.parse(brOk(root, ['list', '--format', 'json']))).toEqual([expect.objectContaining({ id: c1, status: 'stopped', pid: 0 })]);
    expect(br(root, ['kill', c1, 'TERM'])).toMatchObject({ status: 1, stderr: expect.stringContaining('not running') });
    brOk(root, ['delete', c1]);
    expect(br(root, ['state', c1])).toMatchObject({ status: 1, stderr: expect.stringContaining(`container "${c1}" does not exist`) });
    expect(fs.existsSync(path.join(root, c1))).toBe(false);

    // A created container is deleted without --force (as runc does): its waiting init is killed.
    const b2 = bundle((c) => {
      c['process'].args = ['true'];
    });
    const r2 = await createUnderSubreaper(root, b2, c1);
    const pid2 = (JSON.parse(brOk(root, ['state', c1])) as { pid: number; status: string }).pid;
    brOk(root, ['delete', c1]);
    await until(() => r2.reaped().includes(`${pid2} 137`));
    expect(fs.existsSync(path.join(root, c1))).toBe(false);
  }, 60_000);

  it('kill sends signals by name and number; ps, pause, resume and update; delete --force removes a running container and its cgroup', async () => {
    const root = stateRoot();
    const k1 = cid('k1');
    const k2 = cid('k2');
    const b = bundle((c) => {
      c['process'].args = ['sh', '-c', 'trap "exit 42" USR1; while :; do sleep 0.1; done'];
    });
    const r = await createUnderSubreaper(root, b, k1);
    const pid = (JSON.parse(brOk(root, ['state', k1])) as { pid: number }).pid;
    brOk(root, ['start', k1]);
    await until(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('trap'));
    await new Promise((res) => setTimeout(res, 200)); // the trap is set once sh has read its script
    brOk(root, ['kill', k1, '10']); // SIGUSR1
    await until(() => r.reaped().includes(`${pid} 42`));
    brOk(root, ['delete', k1]);

    // A running one: refused without --force, removed with it (the cgroup too).
    const b2 = bundle((c) => {
      c['process'].args = ['sleep', '1000'];
    });
    const r2 = await createUnderSubreaper(root, b2, k2);
    brOk(root, ['start', k2]);
    const pid2 = (JSON.parse(brOk(root, ['state', k2])) as { pid: number }).pid;
    const cgroupLine = fs.readFileSync(`/proc/${pid2}/cgroup`, 'utf8').split('\n').find((l) => /:(pids|memory)?:/.test(l) && l.includes(k2));
    expect(cgroupLine).toContain(`/berth-runtime/${k2}`);
    // ps lists the cgroup's processes; pause freezes them (the process stops running), resume thaws them.
    expect(JSON.parse(brOk(root, ['ps', '--format', 'json', k2]))).toEqual([pid2]);
    expect(brOk(root, ['ps', k2, '-o', 'pid,comm'])).toMatch(new RegExp(`^\\s*PID COMMAND\\n\\s*${pid2} sleep\\n$`));
    brOk(root, ['pause', k2]);
    expect(JSON.parse(brOk(root, ['state', k2]))).toMatchObject({ status: 'paused', pid: pid2 });
    // The kernel's view: v1 freezer.state, or v2 cgroup.events "frozen 1".
    const freezer = fs.existsSync(`/sys/fs/cgroup/freezer/berth-runtime/${k2}/freezer.state`)
      ? fs.readFileSync(`/sys/fs/cgroup/freezer/berth-runtime/${k2}/freezer.state`, 'utf8').trim()
      : /frozen 1/.test(fs.readFileSync(`/sys/fs/cgroup/berth-runtime/${k2}/cgroup.events`, 'utf8'))
        ? 'FROZEN'
        : 'not frozen';
    expect(freezer).toBe('FROZEN');
    expect(br(root, ['pause', k2])).toMatchObject({ status: 1, stderr: expect.stringContaining('is paused') });
    brOk(root, ['resume', k2]);
    expect(JSON.parse(brOk(root, ['state', k2]))).toMatchObject({ status: 'running' });
    // update: new limits in the container's cgroup (the kernel's files, read from the host).
    const resources = path.join(dir, `resources-${n}.json`);
    fs.writeFileSync(resources, JSON.stringify({ memory: { limit: 48 * 1024 * 1024 }, pids: { limit: 33 }, cpu: { quota: 25000, period: 100000 } }));
    brOk(root, ['update', '--resources', resources, k2]);
    const cg = (ctl: string, v1file: string, v2file: string): string =>
      fs.existsSync(`/sys/fs/cgroup/${ctl}/berth-runtime/${k2}`)
        ? fs.readFileSync(`/sys/fs/cgroup/${ctl}/berth-runtime/${k2}/${v1file}`, 'utf8').trim()
        : fs.readFileSync(`/sys/fs/cgroup/berth-runtime/${k2}/${v2file}`, 'utf8').trim();
    expect(cg('memory', 'memory.limit_in_bytes', 'memory.max')).toBe(String(48 * 1024 * 1024));
    expect(cg('pids', 'pids.max', 'pids.max')).toBe('33');
    expect(cg('cpu', 'cpu.cfs_quota_us', 'cpu.max')).toMatch(/^25000( 100000)?$/);
    fs.writeFileSync(resources, JSON.stringify({ blockIO: { weight: 10 } }));
    expect(br(root, ['update', '--resources', resources, k2])).toMatchObject({ status: 1, stderr: expect.stringContaining('linux.resources.blockIO is not supported') });
    expect(br(root, ['delete', k2])).toMatchObject({ status: 1, stderr: expect.stringContaining('is running') });
    brOk(root, ['delete', '--force', k2]);
    await until(() => r2.reaped().includes(`${pid2} 137`));
    expect(fs.existsSync(path.join(root, k2))).toBe(false);
    expect(fs.readdirSync('/sys/fs/cgroup').some((c) => fs.existsSync(`/sys/fs/cgroup/${c}/berth-runtime/${k2}`))).toBe(false);
  }, 60_000);

  it('exec runs a process in the running container: its pid namespace, mounts, hostname and cgroup, the given user, env and cwd, its exit status', async () => {
    const root = stateRoot();
    const x1 = cid('x1');
    const b = bundle((c) => {
      c['hostname'] = 'exec-host';
      c['process'].args = ['sleep', '1000'];
    });
    await createUnderSubreaper(root, b, x1);
    brOk(root, ['start', x1]);
    const pid = (JSON.parse(brOk(root, ['state', x1])) as { pid: number }).pid;
    fs.writeFileSync(path.join(b, 'rootfs', 'marker'), 'in the rootfs\n');
    const e = br(root, ['exec', '--user', '1000:1001', '--env', 'A=1', '-e', 'B=2', '--cwd', '/tmp', x1, 'sh', '-c', 'echo $(hostname) $(id -u):$(id -g) $A$B $(pwd) $(cat /marker); ps -o pid,comm | grep -c sleep; cat /proc/self/cgroup | grep -c ":/$"; exit 6']);
    expect(e.stderr).toBe('');
    expect(e.status).toBe(6);
    const [line1, sleeps, rootCgroups] = e.stdout.trim().split('\n');
    expect(line1).toBe('exec-host 1000:1001 12 /tmp in the rootfs');
    expect(sleeps).toBe('1'); // the container's PID 1, seen from its own pid namespace
    expect(Number(rootCgroups)).toBeGreaterThan(0); // inside the container's cgroup namespace, at its root
    const host = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(host).toContain(`/berth-runtime/${x1}`);
    const notFound = br(root, ['exec', x1, 'nosuch']);
    expect(notFound.status).toBe(1);
    expect(notFound.stderr).toContain('exec "nosuch": executable file not found in $PATH');
    brOk(root, ['delete', '--force', x1]);
    expect(br(root, ['exec', x1, 'true'])).toMatchObject({ status: 1, stderr: expect.stringContaining('does not exist') });
  }, 60_000);

  it('honours config.json: hostname, env, cwd, user and groups, read-only root, tmpfs, masked and read-only paths, memory and pids limits, capabilities, rlimits, sysctl', () => {
    const root = stateRoot();
    const f1 = cid('f1');
    const b = featureBundle();
    const r = br(root, ['run', '--bundle', b, f1]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      'host=oci-host',
      'foo=bar baz',
      'cwd=/srv',
      'ids=1234:2345:2345 3456',
      'root=ro',
      'scratch=ok',
      expect.stringMatching(/^scratchmount=tmpfs .*size=4096k$/),
      'motd=0',
      `mem=${64 * 1024 * 1024}`,
      'pids=77',
      'CapEff:0000000000000020',
      'CapBnd:0000000000000021',
      'NoNewPrivs:1',
      'nofile=321:654',
      'ping=0 4',
    ]);
    // run removes what it created.
    expect(fs.existsSync(path.join(root, f1))).toBe(false);
  }, 60_000);

  it.skipIf(!haveTool('runc'))('shows the container the same facts as runc on the same bundle', () => {
    const b = featureBundle();
    const ours = br(stateRoot(), ['run', '--bundle', b, cid('cmp')]);
    const runcRoot = path.join(dir, `runc-${++n}`);
    const theirs = spawnSync('runc', ['--root', runcRoot, 'run', '--bundle', b, cid('cmp-runc')], { encoding: 'utf8', input: '', timeout: 60_000 });
    expect({ out: ours.stdout, err: ours.stderr }).toEqual({ out: theirs.stdout, err: theirs.stderr });
    expect(ours.status).toBe(theirs.status);
  }, 60_000);

  it('refuses what it cannot honour at create, with one line in --log (runc JSON format) and nothing left behind', () => {
    const root = stateRoot();
    const cases: Array<[string, (c: Config) => void, string]> = [
      ['hooks', (c) => (c['hooks'] = { prestart: [{ path: 'true' }] }), 'hooks.prestart[0].path must be an absolute path'],
      ['join', (c) => c['linux'].namespaces.forEach((ns: { type: string; path?: string }) => ns.type === 'mount' && (ns.path = '/proc/1/ns/mnt')), 'multithreaded Node process'],
      ['userns', (c) => c['linux'].namespaces.push({ type: 'user' }), 'a new user namespace needs linux.uidMappings and linux.gidMappings'],
      ['terminal', (c) => (c['process'].terminal = true), 'cannot allocate tty if berth-runtime will detach without setting console socket'],
      ['sysctl', (c) => (c['linux'].sysctl = { 'kernel.panic': '1' }), 'not a namespaced sysctl'],
      ['mount', (c) => c['mounts'].push({ destination: '/x', type: 'overlay', source: 'overlay' }), 'mounts of type overlay is not supported'],
      ['blkio', (c) => (c['linux'].resources = { blockIO: { weight: 10 } }), 'linux.resources.blockIO is not supported'],
      ['seccomp', (c) => (c['linux'].seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/x.sock' }), 'seccomp notify'],
    ];
    for (const [id, edit, message] of cases) {
      const b = bundle(edit);
      const log = path.join(dir, `log-${id}.json`);
      const r = spawnSync(process.execPath, [BIN, '--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', b, id], { encoding: 'utf8' });
      expect(r.status, id).toBe(1);
      expect(r.stderr, id).toContain(message);
      const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      expect(entries, id).toEqual([{ level: 'error', msg: expect.stringContaining(message), time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
      expect(fs.existsSync(path.join(root, id)), id).toBe(false);
    }
    expect(JSON.parse(brOk(root, ['list', '--format', 'json']))).toEqual([]);
    expect(br(root, ['--systemd-cgroup', 'list'])).toMatchObject({ status: 1, stderr: expect.stringContaining('--systemd-cgroup is not supported') });
  }, 120_000);

  it('features and spec: the runtime-spec features document, and a default config.json that runs', () => {
    const f = JSON.parse(brOk(dir, ['features'])) as { ociVersionMax: string; linux: { namespaces: string[]; cgroup: { systemd: boolean } } };
    expect(f.ociVersionMax).toMatch(/^1\./);
    expect(f.linux.namespaces).toContain('pid');
    expect(f.linux.namespaces).toContain('user');
    expect(f.linux.cgroup.systemd).toBe(false);
    const b = path.join(dir, `spec-${++n}`);
    fs.mkdirSync(b);
    brOk(dir, ['spec', '--bundle', b]);
    expect(br(dir, ['spec', '--bundle', b])).toMatchObject({ status: 1, stderr: expect.stringContaining('exists') });
    execFileSync('cp', ['-a', rootfs, path.join(b, 'rootfs')]);
    const c = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')) as Config;
    c['process'].args = ['sh', '-c', 'echo $(hostname) $(id -u); exit 5'];
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(c));
    const r = br(stateRoot(), ['run', '--bundle', b, cid('spec1')]);
    expect(r).toMatchObject({ status: 5, stdout: 'berth 0\n' });
    // A command's --help, as runc's: the usage, exit 0.
    for (const cmd of ['create', 'exec', 'list']) expect(br(dir, [cmd, '--help'])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^Usage: berth-runtime /) });
  }, 60_000);

  it('run as a program, the bin starts node without NODE_EXTRA_CA_CERTS and passes every argument; through node it keeps the environment', () => {
    // Node warns at start-up when that file cannot be read: the warning says whether it was set.
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'no-such-ca.pem') };
    const asProgram = spawnSync(BIN, ['--root', path.join(dir, 'bin-root'), 'list', '--format', 'json'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(asProgram).toMatchObject({ status: 0, stdout: '[]\n', stderr: '' });
    const arg = 'two words "and quotes"';
    const bad = spawnSync(BIN, ['state', arg], { encoding: 'utf8', env, timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(JSON.stringify(arg));
    const throughNode = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(throughNode.status).toBe(0);
    expect(throughNode.stderr).toContain('no-such-ca.pem');
  }, 60_000);
});

const podmanUnavailable = unavailable ?? (haveTool('podman') ? undefined : 'podman is not installed');

describe.skipIf(podmanUnavailable !== undefined)('podman --runtime berth-runtime', () => {
  const priv = usePrivatePodman('podman');

  const ulimits = PODMAN_ULIMITS;

  it('runs `podman run --rm alpine echo hi` and passes the exit status back', () => {
    const r = spawnSync('podman', [...priv.args, 'run', '--rm', '--network', 'none', ...ulimits, 'alpine', 'echo', 'hi'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ status: 0, stdout: 'hi\n' });
    const e = spawnSync('podman', [...priv.args, 'run', '--rm', '--network', 'none', ...ulimits, 'alpine', 'sh', '-c', 'echo $(hostname)-$(cat /proc/1/cmdline | tr "\\0" " "); exit 7'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(e.status).toBe(7);
    expect(e.stdout).toMatch(/^[0-9a-f]{12}-sh -c /);
    expect(spawnSync('podman', [...priv.args, 'ps', '-aq'], { encoding: 'utf8' }).stdout).toBe('');
  }, 120_000);

  it('runs a detached container, podman exec runs a process in it, podman stops it', () => {
    const id = execFileSync('podman', [...priv.args, 'run', '-d', '--network', 'none', ...ulimits, 'alpine', 'sleep', '1000'], { encoding: 'utf8', timeout: 60_000 }).trim();
    expect(execFileSync('podman', [...priv.args, 'inspect', '--format', '{{.State.Status}}', id], { encoding: 'utf8' }).trim()).toBe('running');
    // podman exec: conmon runs `berth-runtime exec --detach --process FILE --pid-file …` and reaps the process.
    const x = spawnSync('podman', [...priv.args, 'exec', '-e', 'V=v1', id, 'sh', '-c', 'echo exec $V $(cat /proc/1/comm); exit 5'], { encoding: 'utf8', timeout: 60_000 });
    expect(x.stderr).toBe('');
    expect(x).toMatchObject({ status: 5, stdout: 'exec v1 sleep\n' });
    execFileSync('podman', [...priv.args, 'stop', '-t', '1', id], { timeout: 60_000 });
    expect(execFileSync('podman', [...priv.args, 'inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id], { encoding: 'utf8' }).trim()).toBe('exited 137');
    execFileSync('podman', [...priv.args, 'rm', id]);
  }, 120_000);
});
