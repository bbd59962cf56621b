/**
 * berth-runtime's features for engines, end to end as root, each read back from inside the
 * container: terminals sent over --console-socket (create, exec --tty --detach) or relayed by a
 * foreground run/exec, --preserve-fds, the six runtime-spec hooks (where and when each runs,
 * its stdin, args, env, timeout and failure), namespaces joined by path, an exec'd process
 * outliving berth-runtime, and podman -t with berth-runtime as its runtime.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSocket, TerminalDriver } from '../test-support/console-socket.js';
import { ensureEntrypoints, haveTool, tempDir, until } from '../test-support/fixtures.js';
import { BERTH_RUNTIME as BIN, OciTestBed, PODMAN_ULIMITS as ulimits, berthRuntime as br, berthRuntimeOk as brOk, deleteAllContainers, ociRuntimeUnavailable, usePrivatePodman } from '../test-support/oci-runtime.js';

const unavailable = ociRuntimeUnavailable();
if (unavailable) console.warn(`skipping the berth-runtime engine feature tests: ${unavailable}`);

let dir = '';
let bed: OciTestBed;
let n = 0;
/** Container ids are unique per run: their cgroups (berth-runtime/<id>) are host-wide. */
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const cid = (name: string): string => `${name}-${tag}`;
/** Every state root made, for the cleanup of what a failed test left. */
const roots: string[] = [];

function stateRoot(): string {
  const r = path.join(dir, `state-${++n}`);
  roots.push(r);
  return r;
}

const statePid = (root: string, id: string): number => (JSON.parse(brOk(root, ['state', id])) as { pid: number }).pid;
const nsOf = (pid: number | 'self', kind: string): string => fs.readlinkSync(`/proc/${pid}/ns/${kind}`);

describe.skipIf(unavailable !== undefined)('berth-runtime for engines', () => {
  beforeAll(() => {
    ensureEntrypoints();
    dir = tempDir('ocifeatures');
    bed = new OciTestBed(dir);
  }, 120_000);

  afterAll(() => {
    deleteAllContainers(roots);
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('create --console-socket: the pty master arrives with SCM_RIGHTS, the slave is the process stdio and controlling terminal, consoleSize applied', async () => {
    const root = stateRoot();
    const t1 = cid('t1');
    const b = bed.bundle((c) => {
      c['process'].terminal = true;
      c['process'].consoleSize = { height: 37, width: 101 };
      c['process'].args = ['sh', '-c', 'tty; stty size; echo ctty > /dev/tty && echo ctty=ok; read x; echo got=$x; exit 4'];
    });
    const sock = new ConsoleSocket(path.join(dir, `console-${++n}.sock`));
    try {
      const created = bed.createUnderSubreaper(root, b, t1, ['--console-socket', sock.path]);
      const { name, fd } = await sock.receive();
      const c = await created;
      expect(c.stderr()).toBe('');
      expect(name).toBe('/dev/ptmx');
      const term = new TerminalDriver(fd);
      try {
        const pid = statePid(root, t1);
        brOk(root, ['start', t1]);
        await term.waitFor(/ctty=ok/);
        term.type('hello\n');
        await term.waitFor(/got=hello/);
        expect(term.output.replace(/\r/g, '')).toMatch(/^\/dev\/pts\/0\n37 101\nctty\nctty=ok\n(hello\n)?got=hello\n/);
        await until(() => c.reaped().includes(`${pid} 4`));
      } finally {
        term.close();
      }
      brOk(root, ['delete', t1]);
    } finally {
      sock.close();
    }
    // runc's rules: a terminal needs the socket when detaching; a socket needs a terminal.
    const noTerm = bed.bundle((c) => (c['process'].args = ['true']));
    expect(br(root, ['create', '--bundle', noTerm, '--console-socket', path.join(dir, 'x.sock'), cid('t2')])).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('cannot use console socket if berth-runtime will not detach or allocate tty'),
    });
    expect(br(root, ['create', '--bundle', b, cid('t3')])).toMatchObject({ status: 1, stderr: expect.stringContaining('cannot allocate tty if berth-runtime will detach without setting console socket') });
    expect(fs.readdirSync(root)).toEqual([]);
  }, 90_000);

  it('run with a terminal and exec --tty relay the pty when not detached; exec --tty --detach sends it to the console socket', async () => {
    const root = stateRoot();
    const r1 = cid('r1');
    const relayed = bed.bundle((c) => {
      c['process'].terminal = true;
      c['process'].args = ['sh', '-c', 'tty; exit 3'];
    });
    const r = br(root, ['run', '--bundle', relayed, r1]);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ status: 3, stdout: '/dev/pts/0\r\n' });

    const x1 = cid('x1');
    const b = bed.bundle((c) => (c['process'].args = ['sleep', '1000']));
    await bed.createUnderSubreaper(root, b, x1);
    brOk(root, ['start', x1]);
    const e = br(root, ['exec', '--tty', x1, 'sh', '-c', 'tty; exit 5']);
    expect(e.stderr).toBe('');
    expect(e).toMatchObject({ status: 5, stdout: expect.stringMatching(/^\/dev\/pts\/\d+\r\n$/) });
    expect(br(root, ['exec', '--tty', '--detach', x1, 'tty'])).toMatchObject({ status: 1, stderr: expect.stringContaining('cannot allocate tty') });

    const sock = new ConsoleSocket(path.join(dir, `console-${++n}.sock`));
    try {
      const pidFile = path.join(dir, `exec-pid-${n}`);
      const x = br(root, ['exec', '--tty', '--detach', '--console-socket', sock.path, '--pid-file', pidFile, x1, 'sh', '-c', 'tty; read x; echo exec-got=$x']);
      expect(x.stderr).toBe('');
      expect(x.status).toBe(0);
      const term = new TerminalDriver((await sock.receive()).fd);
      try {
        await term.waitFor(/\/dev\/pts\/\d+/);
        term.type('typed\n');
        await term.waitFor(/exec-got=typed/);
      } finally {
        term.close();
      }
    } finally {
      sock.close();
    }
    brOk(root, ['delete', '--force', x1]);
  }, 90_000);

  it('--preserve-fds N passes the caller fds 3..3+N-1 to the container process (run and exec), and no others', async () => {
    const root = stateRoot();
    const input = path.join(dir, `in-${++n}`);
    const output = path.join(dir, `out-${n}`);
    fs.writeFileSync(input, 'from fd 3\n');
    const inFd = fs.openSync(input, 'r');
    const outFd = fs.openSync(output, 'a');
    try {
      const b = bed.bundle((c) => {
        c['process'].args = ['sh', '-c', 'cat <&3; echo to fd 4 >&4; for f in 3 4 5 6; do [ -e /proc/self/fd/$f ] && echo has=$f; done; exit 0'];
      });
      const r = br(root, ['run', '--preserve-fds', '2', '--bundle', b, cid('p1')], { stdio: ['pipe', 'pipe', 'pipe', inFd, outFd] });
      expect(r.stderr).toBe('');
      expect(r).toMatchObject({ status: 0, stdout: 'from fd 3\nhas=3\nhas=4\n' });
      expect(fs.readFileSync(output, 'utf8')).toBe('to fd 4\n');
      // Without the flag, none of them.
      const none = br(root, ['run', '--bundle', b, cid('p2')], { stdio: ['pipe', 'pipe', 'pipe', inFd, outFd] });
      expect(none.stdout).not.toContain('has=');

      const x1 = cid('p3');
      const s = bed.bundle((c) => (c['process'].args = ['sleep', '1000']));
      await bed.createUnderSubreaper(root, s, x1);
      brOk(root, ['start', x1]);
      fs.writeFileSync(output, '');
      const e = br(root, ['exec', '--preserve-fds', '2', x1, 'sh', '-c', 'echo exec to fd 4 >&4; for f in 3 4 5; do [ -e /proc/self/fd/$f ] && echo has=$f; done; true'], {
        stdio: ['pipe', 'pipe', 'pipe', inFd, outFd],
      });
      expect(e.stderr).toBe('');
      expect(e).toMatchObject({ status: 0, stdout: 'has=3\nhas=4\n' });
      expect(fs.readFileSync(output, 'utf8')).toBe('exec to fd 4\n');
      // More than the caller passed: refused, not Node's own fds handed over.
      expect(br(root, ['exec', '--preserve-fds', '9', x1, 'true'], { stdio: ['pipe', 'pipe', 'pipe', inFd, outFd] })).toMatchObject({
        status: 1,
        stderr: expect.stringMatching(/--preserve-fds 9: fd 5 (is not open|was not passed to berth-runtime)/),
      });
      brOk(root, ['delete', '--force', x1]);
    } finally {
      fs.closeSync(inFd);
      fs.closeSync(outFd);
    }
  }, 90_000);

  it('runs the six hooks at their moments, in their namespaces, with the state on stdin, args and env; failures fail create or warn', async () => {
    const root = stateRoot();
    const h1 = cid('h1');
    const out = path.join(dir, `hooks-${++n}`);
    fs.mkdirSync(out);
    // Each hook records its stdin, argv, env and mount namespace. startContainer runs in the container (after pivot_root): it writes to a bind of `out`.
    const hook = (name: string, where: string): Record<string, unknown> => ({
      path: '/bin/sh',
      args: ['sh', '-c', `cat > ${where}/${name}.json; echo "$0 $1 $HOOKVAR" > ${where}/${name}.args; readlink /proc/self/ns/mnt > ${where}/${name}.mnt`, name, 'arg1'],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `HOOKVAR=v-${name}`],
      timeout: 30,
    });
    const b = bed.bundle((c) => {
      c['process'].args = ['sleep', '1000'];
      c['mounts'].push({ destination: '/hook-out', type: 'bind', source: out, options: ['rbind', 'rw'] });
      c['hooks'] = {
        prestart: [hook('prestart', out)],
        createRuntime: [hook('createRuntime', out)],
        createContainer: [hook('createContainer', out)],
        startContainer: [hook('startContainer', '/hook-out')],
        poststart: [hook('poststart', out)],
        poststop: [hook('poststop', out)],
      };
    });
    const hostMnt = nsOf('self', 'mnt');
    const c = await bed.createUnderSubreaper(root, b, h1);
    expect(c.stderr()).toBe('');
    const pid = statePid(root, h1);
    const containerMnt = nsOf(pid, 'mnt');
    expect(containerMnt).not.toBe(hostMnt);
    const seen = (name: string): string[] => fs.readdirSync(out).filter((f) => f.startsWith(`${name}.`));
    // create ran the first three; start the next two, delete the last.
    expect(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'].map((h) => seen(h).length)).toEqual([3, 3, 3, 0, 0, 0]);
    brOk(root, ['start', h1]);
    await until(() => fs.existsSync(path.join(out, 'startContainer.mnt')) && fs.existsSync(path.join(out, 'poststart.mnt')));
    await until(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sleep'));
    brOk(root, ['kill', h1, 'KILL']);
    await until(() => c.reaped().includes(`${pid} 137`));
    brOk(root, ['delete', h1]);
    const read = (name: string, ext: string): string => fs.readFileSync(path.join(out, `${name}.${ext}`), 'utf8').trim();
    const expected: Record<string, { status: string; mnt: string; pid: boolean }> = {
      prestart: { status: 'creating', mnt: hostMnt, pid: true },
      createRuntime: { status: 'creating', mnt: hostMnt, pid: true },
      createContainer: { status: 'creating', mnt: containerMnt, pid: true },
      startContainer: { status: 'created', mnt: containerMnt, pid: true },
      poststart: { status: 'running', mnt: hostMnt, pid: true },
      poststop: { status: 'stopped', mnt: hostMnt, pid: false },
    };
    for (const [name, want] of Object.entries(expected)) {
      const state = JSON.parse(read(name, 'json')) as Record<string, unknown>;
      expect(state, name).toMatchObject({ ociVersion: expect.any(String), id: h1, status: want.status, bundle: b });
      expect(state['pid'], name).toBe(want.pid ? pid : undefined);
      expect(read(name, 'args'), name).toBe(`${name} arg1 v-${name}`);
      expect(read(name, 'mnt'), name).toBe(want.mnt);
    }

    // A failing createRuntime hook fails create (its stderr in the message), leaving nothing; a timeout too.
    const failing = bed.bundle((cfg) => {
      cfg['process'].args = ['true'];
      cfg['hooks'] = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo broken hook >&2; exit 3'] }] };
    });
    const f = br(root, ['create', '--bundle', failing, cid('h2')]);
    expect(f).toMatchObject({ status: 1, stderr: expect.stringContaining('createRuntime hook #0 (/bin/sh): exit status 3: broken hook') });
    const slow = bed.bundle((cfg) => {
      cfg['process'].args = ['true'];
      cfg['hooks'] = { createContainer: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] };
    });
    expect(br(root, ['create', '--bundle', slow, cid('h3')])).toMatchObject({ status: 1, stderr: expect.stringContaining('createContainer hook #0 (/bin/sleep): timed out after 1s') });
    expect(fs.readdirSync(root)).toEqual([]);
    // poststart and poststop failures are warnings: the container runs and is deleted.
    const warn = bed.bundle((cfg) => {
      cfg['process'].args = ['sh', '-c', 'echo ran'];
      cfg['hooks'] = { poststart: [{ path: '/bin/false' }], poststop: [{ path: '/bin/false' }] };
    });
    const w = br(root, ['run', '--bundle', warn, cid('h4')]);
    expect(w.status).toBe(0);
    expect(w.stdout).toBe('ran\n');
    expect(w.stderr).toContain('warning: poststart hook #0 (/bin/false): exit status 1');
    expect(w.stderr).toContain('warning: poststop hook #0 (/bin/false): exit status 1');
  }, 120_000);

  it('joins the net, ipc, uts, pid and cgroup namespaces given by path; refuses a mount namespace by path', async () => {
    const root = stateRoot();
    const holder = cid('ns1');
    const hb = bed.bundle((c) => {
      c['hostname'] = 'holder';
      c['linux'].namespaces.push({ type: 'cgroup' });
      c['process'].args = ['sleep', '1000'];
    });
    await bed.createUnderSubreaper(root, hb, holder);
    brOk(root, ['start', holder]);
    const hpid = statePid(root, holder);
    const kinds: Array<[string, string]> = [
      ['network', 'net'],
      ['ipc', 'ipc'],
      ['uts', 'uts'],
      ['pid', 'pid'],
      ['cgroup', 'cgroup'],
    ];
    const joiner = bed.bundle((c) => {
      delete c['hostname'];
      const rest = (c['linux'].namespaces as Array<{ type: string }>).filter((ns) => !kinds.some(([k]) => k === ns.type));
      c['linux'].namespaces = [...rest, ...kinds.map(([type, file]) => ({ type, path: `/proc/${hpid}/ns/${file}` }))];
      c['process'].args = ['sh', '-c', 'for n in net ipc uts pid cgroup mnt; do echo $n=$(readlink /proc/self/ns/$n); done; echo host=$(hostname); ps -o comm | grep -c sleep'];
    });
    const r = br(root, ['run', '--bundle', joiner, cid('ns2')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 5)).toEqual(kinds.map(([, file]) => `${file}=${nsOf(hpid, file)}`));
    expect(lines[5]).toMatch(/^mnt=mnt:\[\d+\]$/);
    expect(lines[5]).not.toBe(`mnt=${nsOf(hpid, 'mnt')}`);
    expect(lines[6]).toBe('host=holder');
    expect(lines[7]).toBe('1'); // the holder's sleep, seen from the joined pid namespace
    brOk(root, ['delete', '--force', holder]);

    const mnt = bed.bundle((c) => c['linux'].namespaces.forEach((ns: { type: string; path?: string }) => ns.type === 'mount' && (ns.path = '/proc/1/ns/mnt')));
    expect(br(root, ['create', '--bundle', mnt, cid('ns3')])).toMatchObject({ status: 1, stderr: expect.stringContaining('multithreaded Node process') });
  }, 90_000);

  it('an exec --detach process keeps running once berth-runtime has exited (no parent-death signal)', async () => {
    const root = stateRoot();
    const d1 = cid('d1');
    const b = bed.bundle((c) => (c['process'].args = ['sleep', '1000']));
    await bed.createUnderSubreaper(root, b, d1);
    brOk(root, ['start', d1]);
    const pidFile = path.join(dir, `d-pid-${++n}`);
    // Its stdio is berth-runtime's (conmon gives files or pipes it keeps reading): here, none waited on.
    const x = spawnSync(process.execPath, [BIN, '--root', root, 'exec', '--detach', '--pid-file', pidFile, d1, 'sleep', '999'], { stdio: 'ignore', timeout: 60_000 });
    expect(x.status).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    // berth-runtime has exited; a parent-death signal would have killed the process by now (it is sent at the exit).
    await new Promise((res) => setTimeout(res, 500));
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u0000999\u0000');
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).not.toMatch(/State:\s+Z/);
    brOk(root, ['delete', '--force', d1]);
  }, 60_000);
});

const podmanUnavailable = unavailable ?? (haveTool('podman') ? undefined : 'podman is not installed');

describe.skipIf(podmanUnavailable !== undefined)('podman -t with --runtime berth-runtime', () => {
  const priv = usePrivatePodman('podman-tty');

  it('podman run --rm -t alpine tty: the container has a terminal from berth-runtime over conmon console socket; podman exec -t too', () => {
    const r = spawnSync('podman', [...priv.args, 'run', '--rm', '-t', '--network', 'none', ...ulimits, 'alpine', 'tty'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('/dev/pts/0\r\n');
    const name = `tty-${tag}`;
    const d = spawnSync('podman', [...priv.args, 'run', '-d', '--name', name, '--network', 'none', ...ulimits, 'alpine', 'sleep', '1000'], { encoding: 'utf8', timeout: 90_000 });
    expect(d.status, d.stderr).toBe(0);
    try {
      const e = spawnSync('podman', [...priv.args, 'exec', '-t', name, 'sh', '-c', 'tty; exit 6'], { encoding: 'utf8', timeout: 90_000 });
      expect(e.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
      expect(e.status).toBe(6);
    } finally {
      spawnSync('podman', [...priv.args, 'rm', '-f', '-t', '0', name], { stdio: 'ignore', timeout: 90_000 });
    }
  }, 240_000);
});
