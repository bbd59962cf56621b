/**
 * berth-runtime driven by containerd, as root: the test starts its own containerd (Debian's
 * package) with a private root, state, sockets and opt directory (no CRI plugin), imports
 * alpine from the shared OCI layout (skopeo → docker-archive → `ctr images import`) into a
 * namespace of its own, and runs containers through containerd's io.containerd.runc.v2 shim
 * with `--runc-binary node_modules/.bin/berth-runtime`: a foreground `ctr run --rm`, an exit
 * status, a detached task that outlives `ctr`, `ctr task exec`, `ctr task kill`, user
 * namespaces (joined by path with `--with-ns user:PATH`, made with maps from `ctr run --config`), and a refusal (a mount namespace joined by
 * path) that reaches `ctr` through the shim's JSON log. Everything it
 * made is removed afterwards: tasks, shims, mounts, cgroups, directories.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolsMissing } from '@berth/testing';
import { e2eUnavailable, ensureEntrypoints, repoRoot, sharedImages, tempDir, unpackImage, until } from '../test-support/fixtures.js';

/** The bin as npm links it: what an engine is pointed at. */
const BIN = path.join(repoRoot, 'node_modules', '.bin', 'berth-runtime');
const IMAGE = 'docker.io/library/alpine:latest';

function why(): string | undefined {
  return e2eUnavailable() ?? toolsMissing(['containerd', 'ctr', 'containerd-shim-runc-v2']);
}
const unavailable = why();
if (unavailable) console.warn(`skipping the containerd tests: ${unavailable}`);

/** Unique per run: the containerd namespace is the cgroup parent (/<ns>/<id>), which is host-wide. */
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const NS = `berth-${tag}`;

let dir = '';
let sock = '';
let runcRoot = '';
let fifoDir = '';
let containerd: ChildProcess | undefined;
/** /run/containerd holds the shims' sockets (a fixed place in containerd 1.6): removed afterwards if this test made it. */
const RUN_DIR = '/run/containerd';
let madeRunDir = false;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The shim finds node through PATH (the bin's #!/usr/bin/env node). */
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}` };

/** Runs a command to its end without blocking the worker (vitest's RPC times out under a long spawnSync on a loaded machine). */
function exec(cmd: string, args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function ctr(args: string[]): Promise<Result> {
  return exec('ctr', ['--address', sock, '--namespace', NS, ...args]);
}

async function ctrOk(args: string[]): Promise<string> {
  const r = await ctr(args);
  if (r.status !== 0) throw new Error(`ctr ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** `ctr run` with berth-runtime as the shim's runtime binary, its state under the test's dir. */
function run(opts: string[], id: string, cmd: string[]): Promise<Result> {
  return ctr(['run', '--runc-binary', BIN, '--runc-root', runcRoot, '--fifo-dir', fifoDir, ...opts, IMAGE, id, ...cmd]);
}

/** The task's pid and status from `ctr task ls`, or undefined when there is no task. */
async function task(id: string): Promise<{ pid: number; status: string } | undefined> {
  for (const line of (await ctrOk(['task', 'ls'])).split('\n').slice(1)) {
    const [name, pid, status] = line.trim().split(/\s+/);
    if (name === id) return { pid: Number(pid), status: status ?? '' };
  }
  return undefined;
}

/** berth-runtime's own view of the container, through the state root the shim gave it. */
function berthState(id: string): Promise<Result> {
  return exec(BIN, ['--root', path.join(runcRoot, NS), 'state', id]);
}

/** The container's cgroup directories (cgroupsPath /<ns>/<id>: v1 one per hierarchy, v2 one). */
function cgroupDirs(sub: string): string[] {
  const root = '/sys/fs/cgroup';
  const candidates = fs.existsSync(path.join(root, 'cgroup.controllers')) ? [root] : fs.readdirSync(root).map((c) => path.join(root, c));
  return candidates.map((c) => path.join(c, sub)).filter((d) => fs.existsSync(d));
}

async function removeContainer(id: string): Promise<void> {
  const t = await task(id);
  if (t !== undefined && t.status !== 'STOPPED') await ctr(['task', 'kill', '--signal', 'SIGKILL', id]);
  await ctr(['task', 'rm', '--force', id]);
  await ctr(['container', 'rm', id]);
}

describe.skipIf(unavailable !== undefined)('berth-runtime under containerd (ctr, io.containerd.runc.v2 shim)', () => {
  beforeAll(async () => {
    ensureEntrypoints();
    madeRunDir = !fs.existsSync(RUN_DIR);
    dir = tempDir('containerd');
    // A container in a user namespace has its root reach the bundle as uid 100000.
    fs.chmodSync(dir, 0o755);
    sock = path.join(dir, 'containerd.sock');
    runcRoot = path.join(dir, 'runc');
    fifoDir = path.join(dir, 'fifo');
    const config = [
      'version = 2',
      `root = ${JSON.stringify(path.join(dir, 'root'))}`,
      `state = ${JSON.stringify(path.join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(sock)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(path.join(dir, 'opt'))}`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'config.toml'), config);
    const log = fs.openSync(path.join(dir, 'containerd.log'), 'a');
    containerd = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', log, log], env });
    fs.closeSync(log);
    await until(async () => (await exec('ctr', ['--address', sock, 'version'], 10_000)).status === 0, 60_000, 100);

    const archive = path.join(dir, 'alpine.tar');
    const cp = await exec('skopeo', ['copy', `oci:${path.join(sharedImages, 'alpine')}:latest`, `docker-archive:${archive}:${IMAGE}`]);
    if (cp.status !== 0) throw new Error(`skopeo copy: ${cp.stderr}`);
    await ctrOk(['images', 'import', archive]);
  }, 300_000);

  afterAll(async () => {
    if (dir === '') return;
    if (sock !== '' && containerd !== undefined) {
      for (const id of (await ctr(['container', 'ls', '--quiet'])).stdout.split('\n').filter((l) => l !== '')) await removeContainer(id);
    }
    if (containerd !== undefined && containerd.exitCode === null && containerd.signalCode === null) {
      const exited = new Promise((r) => containerd?.once('exit', r));
      containerd.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (containerd.exitCode === null && containerd.signalCode === null) containerd.kill('SIGKILL');
    }
    // A shim left by a failed test (each serves one container of this containerd).
    for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmdline = '';
      try {
        cmdline = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.startsWith('containerd-shim') || cmdline.includes('/containerd-shim')) {
        if (cmdline.includes(`${sock}\0`) || cmdline.includes(NS)) process.kill(Number(p), 'SIGKILL');
      }
    }
    // Snapshot mounts (the shim unmounts them on task delete; this catches a failed test's).
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .reverse();
    for (const m of mounts) await exec('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
    for (const d of cgroupDirs(NS)) {
      for (const child of fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory())) fs.rmdirSync(path.join(d, child.name));
      fs.rmdirSync(d);
    }
    if (madeRunDir) {
      for (const d of ['s', 'runc', 'fifo']) fs.rmSync(path.join(RUN_DIR, d), { recursive: true, force: true });
      try {
        fs.rmdirSync(RUN_DIR);
      } catch {
        // Something else uses it now.
      }
    }
  }, 120_000);

  it('ctr run --rm prints the output of the process, and its exit status is ctr\'s', async () => {
    const r = await run(['--rm'], `t1-${tag}`, ['echo', 'hi']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hi\n');
    expect(r.status).toBe(0);
    const e = await run(['--rm'], `t2-${tag}`, ['sh', '-c', 'echo "$(hostname) $$"; exit 3']);
    expect(e.stdout).toMatch(/^\S+ 1\n$/);
    expect(e.status).toBe(3);
    // Both removed: no task, no container, no berth state, no cgroup.
    expect(await ctrOk(['container', 'ls', '--quiet'])).toBe('');
    expect(fs.readdirSync(path.join(runcRoot, NS))).toEqual([]);
    expect(cgroupDirs(path.join(NS, `t1-${tag}`))).toEqual([]);
  }, 240_000);

  it('a detached task outlives ctr; ctr task exec runs in it; ctr task kill stops it with the status of its process', async () => {
    const id = `d1-${tag}`;
    const d = await run(['-d'], id, ['sh', '-c', "trap 'exit 7' TERM; while :; do sleep 0.1; done"]);
    expect(d.stderr).toBe('');
    expect(d.status).toBe(0);
    // ctr has exited; the task runs on under its shim, and berth-runtime (the shim's runtime) sees it.
    const t = await task(id);
    expect(t?.status).toBe('RUNNING');
    expect(() => process.kill(t?.pid ?? 0, 0)).not.toThrow();
    expect(JSON.parse((await berthState(id)).stdout)).toMatchObject({ id, status: 'running', pid: t?.pid });
    expect(fs.existsSync(path.join(runcRoot, NS, id, 'init.json'))).toBe(true);
    expect(cgroupDirs(path.join(NS, id)).length).toBeGreaterThan(0);

    // The shim runs `exec --detach` and berth-runtime exits at once: the process must outlive it (the sleep makes sure it does).
    const x = await ctr(['task', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', id, 'sh', '-c', 'sleep 1; echo "in $(cat /proc/1/comm) $$"; exit 5']);
    expect(x.stdout).toMatch(/^in sh \d+\n$/);
    expect(x.stdout).not.toMatch(/^in sh 1\n$/);
    expect(x.status).toBe(5);

    // ctr task kill sends SIGTERM: the trap exits 7.
    expect((await ctr(['task', 'kill', id])).status).toBe(0);
    await until(async () => (await task(id))?.status === 'STOPPED', 60_000, 100);
    expect((await berthState(id)).stdout).toContain('"stopped"');
    const rm = await ctr(['task', 'rm', id]);
    expect(rm.status).toBe(0);
    expect(rm.stderr).toContain('exit code 7');
    await ctrOk(['container', 'rm', id]);
    expect(fs.existsSync(path.join(runcRoot, NS, id))).toBe(false);
    expect(cgroupDirs(path.join(NS, id))).toEqual([]);
  }, 240_000);

  it('what berth cannot do (a mount namespace joined by path) is refused at create, and the message reaches ctr through the shim\'s log', async () => {
    const id = `m1-${tag}`;
    const r = await run(['--rm', '--with-ns', 'mount:/proc/1/ns/mnt'], id, ['true']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('OCI runtime create failed');
    expect(r.stderr).toContain('linux.namespaces mount with a path');
    await ctr(['container', 'rm', id]);
    expect(fs.existsSync(path.join(runcRoot, NS, id))).toBe(false);
    expect(cgroupDirs(path.join(NS, id))).toEqual([]);
  }, 240_000);

  it('user namespaces: the runtime\'s own joined by path (ctr run --with-ns user:PATH), a new one with maps (ctr run --config): uid 0 inside, the rootfs owned by nobody', async () => {
    // The user namespace berth-runtime is in: joining it is joining nothing.
    const own = await run(['--rm', '--with-ns', 'user:/proc/self/ns/user'], `u0-${tag}`, ['cat', '/proc/self/uid_map']);
    expect(own.stderr).toBe('');
    expect(own.stdout.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    expect(own.status).toBe(0);

    // A new one with maps: ctr's --uidmap would run runc instead of --runc-binary, so the spec comes from a file (ctr run --config)
    // with alpine's unpacked rootfs; the maps in the spec make containerd give the bundle to the container's root.
    const rootfs = unpackImage('alpine', dir).rootfs;
    fs.chmodSync(path.dirname(rootfs), 0o755); // umoci's bundle directory is 0700
    const specDir = path.join(dir, 'userns-spec');
    fs.mkdirSync(specDir);
    const sp = await exec(BIN, ['spec', '--bundle', specDir]);
    expect(sp.status).toBe(0);
    const file = path.join(specDir, 'config.json');
    const id = `u1-${tag}`;
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { root: unknown; process: Record<string, unknown>; linux: Record<string, unknown> & { namespaces: unknown[] } };
    c.root = { path: rootfs };
    c.process['terminal'] = false;
    c.process['args'] = ['sh', '-c', 'echo $(id -u) $$ $(stat -c %u /bin/busybox); cat /proc/self/uid_map; exit 4'];
    c.linux.namespaces.push({ type: 'user' });
    c.linux['uidMappings'] = c.linux['gidMappings'] = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux['cgroupsPath'] = `/${NS}/${id}`;
    fs.writeFileSync(file, JSON.stringify(c));
    const r = await ctr(['run', '--runc-binary', BIN, '--runc-root', runcRoot, '--fifo-dir', fifoDir, '--rm', '--config', file, id]);
    expect(r.stderr).toBe('');
    const [line, map] = r.stdout.split('\n');
    expect(line).toBe('0 1 65534');
    expect(map?.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(r.status).toBe(4);
    expect(fs.existsSync(path.join(runcRoot, NS, id))).toBe(false);
    expect(cgroupDirs(path.join(NS, id))).toEqual([]);
  }, 240_000);
});
