// The container lifecycle on the runtime's create/start split, through the built CLI, asserting
// what a docker user sees: create, start (-a), exec, restart, wait, attach.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berthBin, mirrorToolsSkip, pollUntil, repo, useAlpineBox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
/** The bin `npm ci` links as `berth`: a shell line, then CommonJS (packages/cli/bin/berth.js). */
const installedBin = path.join(repo, 'packages/cli/bin/berth.js');

/** Polls `check` every 100 ms until it returns a value (not undefined), at most `timeoutMs`. */
const until = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => pollUntil(what, check, { timeoutMs, intervalMs: 100 });

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('container lifecycle: create, start, exec, restart, wait, attach (as root)', () => {
  const alpine = useAlpineBox({ images: images as string });
  const { b } = alpine;
  /** ps -a's STATUS column of the container named `name` (undefined when it is not listed). */
  const status = async (name: string): Promise<string | undefined> => (await alpine.psRow(name))[4];

  it('create prints the ID, ps -a shows Created; start runs it; wait prints its code', async () => {
    const c = await b(['create', '--name', 'made', 'alpine', 'sh', '-c', 'while [ ! -e /done ]; do sleep 0.1; done; exit 4']);
    expect(c.code, c.stderr).toBe(0);
    const id = c.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await status('made')).toMatch(/^Created$/);
    // A later command's sweep keeps it (nobody owns a created container).
    expect(await status('made')).toMatch(/^Created$/);
    // wait on a created container waits for it to be started and to stop, as docker's.
    const early = b(['wait', 'made']);
    const s = await b(['start', 'made']);
    expect([s.code, s.stdout, s.stderr]).toEqual([0, 'made\n', '']);
    expect(await status('made')).toMatch(/^Up /);
    const done = await b(['exec', 'made', 'touch', '/done']);
    expect(done.code, done.stderr).toBe(0);
    const w = await b(['wait', 'made']);
    expect([w.code, w.stdout]).toEqual([0, '4\n']);
    const e = await early;
    expect([e.code, e.stdout]).toEqual([0, '4\n']);
    expect(await status('made')).toMatch(/^Exited \(4\)/);
    expect((await b(['container', 'inspect', '--format', '{{.Id}}', 'made'])).stdout.trim()).toBe(id);
    expect((await b(['rm', 'made'])).code).toBe(0);
  });

  it('start -a: the output and the exit status of the container', async () => {
    expect((await b(['create', '--name', 'attached', 'alpine', 'sh', '-c', 'echo out; echo err >&2; exit 7'])).code).toBe(0);
    const r = await b(['start', '-a', 'attached']);
    expect([r.code, r.stdout, r.stderr]).toEqual([7, 'out\n', 'err\n']);
    expect(await status('attached')).toMatch(/^Exited \(7\)/);
    // A stopped container starts again (same rootfs: what it wrote is still there).
    expect((await b(['rm', 'attached'])).code).toBe(0);
  });

  it("create --rm + start -a: the container's exit status, and the container is removed", async () => {
    const c = await b(['create', '--rm', '--name', 'once', 'alpine', 'sh', '-c', 'echo bye; exit 3']);
    expect(c.code, c.stderr).toBe(0);
    const r = await b(['start', '-a', 'once']);
    expect([r.code, r.stdout]).toEqual([3, 'bye\n']);
    expect(await status('once')).toBeUndefined();
  });

  it('start -a -i: stdin reaches the container', async () => {
    expect((await b(['create', '-i', '--rm', '--name', 'cat', 'alpine', 'sh', '-c', 'tr a-z A-Z; exit 5'])).code).toBe(0);
    const r = await b(['start', '-a', '-i', 'cat'], 'hello\n');
    expect([r.code, r.stdout]).toEqual([5, 'HELLO\n']);
  });

  describe('exec in a running container', () => {
    beforeAll(async () => {
      const r = await b(['run', '-d', '--name', 'ex', '-e', 'FROM_RUN=1', '--hostname', 'exhost', '--cap-drop', 'NET_RAW', 'alpine', 'sleep', '300']);
      expect(r.code, r.stderr).toBe(0);
    });
    afterAll(async () => {
      await b(['rm', '-f', 'ex']);
    });

    it('exit statuses: the command\'s, 126 cannot execute, 127 not found, 125 not running', async () => {
      expect((await b(['exec', 'ex', 'true'])).code).toBe(0);
      expect((await b(['exec', 'ex', 'sh', '-c', 'exit 3'])).code).toBe(3);
      const noexec = await b(['exec', 'ex', '/etc/passwd']);
      expect(noexec.code).toBe(126);
      expect(noexec.stderr).toMatch(/permission denied/);
      const missing = await b(['exec', 'ex', 'nosuchcmd']);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toMatch(/executable file not found/);
      expect((await b(['create', '--name', 'idle', 'alpine', 'true'])).code).toBe(0);
      const notRunning = await b(['exec', 'idle', 'true']);
      expect(notRunning.code).toBe(125);
      expect(notRunning.stderr).toMatch(/is not running/);
      expect((await b(['exec', 'nosuch-container', 'true'])).code).toBe(125);
      await b(['rm', 'idle']);
    });

    it('output and stdin (-i)', async () => {
      const r = await b(['exec', 'ex', 'sh', '-c', 'echo out; echo err >&2']);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, 'out\n', 'err\n']);
      const i = await b(['exec', '-i', 'ex', 'cat'], 'piped\n');
      expect([i.code, i.stdout]).toEqual([0, 'piped\n']);
      // Without -i stdin reads EOF at once.
      const n = await b(['exec', 'ex', 'cat'], 'ignored\n');
      expect([n.code, n.stdout]).toEqual([0, '']);
    });

    it('through the installed bin run as a program (its CommonJS file, no CA file): output, stdin, -e, the exit status', async () => {
      // As a user's `berth`: the shell line, then dist/direct/exec.cjs. Node warns on stderr when a
      // NODE_EXTRA_CA_CERTS file cannot be read, so an empty stderr also says it was left out.
      const env = { ...process.env, ...alpine.box.env, NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' };
      const run = (args: string[], input?: string) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = spawn(installedBin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
          child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
          child.stdin.end(input ?? '');
        });
      expect(await run(['exec', '-e', 'X=6', 'ex', 'sh', '-c', 'echo $((X * 7)); echo to-err >&2; exit 3'])).toEqual({ code: 3, stdout: '42\n', stderr: 'to-err\n' });
      expect(await run(['exec', '-i', 'ex', 'tr', 'a-z', 'A-Z'], 'piped\n')).toEqual({ code: 0, stdout: 'PIPED\n', stderr: '' });
      expect(await run(['exec', 'ex', 'nosuchcmd'])).toEqual({ code: 127, stdout: '', stderr: 'berth: exec "nosuchcmd": executable file not found in $PATH\n' });
    });

    it("-e, -w, -u; the container's environment, hostname and pid namespace", async () => {
      const env = await b(['exec', '-e', 'A=b', 'ex', 'env']);
      expect(env.stdout).toMatch(/^A=b$/m);
      expect(env.stdout).toMatch(/^FROM_RUN=1$/m);
      expect((await b(['exec', '-w', '/tmp', 'ex', 'pwd'])).stdout).toBe('/tmp\n');
      expect((await b(['exec', '-u', 'nobody', 'ex', 'id', '-un'])).stdout).toBe('nobody\n');
      expect((await b(['exec', '-u', '1234:5678', 'ex', 'id'])).stdout).toMatch(/^uid=1234 gid=5678/);
      expect((await b(['exec', 'ex', 'hostname'])).stdout).toBe('exhost\n');
      const ps = await b(['exec', 'ex', 'ps', '-o', 'pid,args']);
      expect(ps.stdout).toMatch(/^\s*1 sleep 300$/m);
    });

    it('a failure after the exec child was started (it is spawned before the checks) leaves no process in the container', async () => {
      const rel = await b(['exec', '-w', 'rel', 'ex', 'true']);
      expect([rel.code, rel.stderr]).toEqual([125, expect.stringMatching(/not absolute/)]);
      const user = await b(['exec', '-u', 'nosuchuser', 'ex', 'true']);
      expect([user.code, user.stderr]).toEqual([125, expect.stringMatching(/unable to find user nosuchuser/)]);
      // Only PID 1 and this ps: no exec child left waiting in the container's pid namespace.
      const ps = await b(['exec', 'ex', 'ps', '-o', 'pid,args']);
      expect(ps.stdout.trim().split('\n').slice(1).map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(['1 sleep 300', expect.stringMatching(/^\d+ ps -o pid,args$/)]);
    });

    it("the container's capabilities (NET_RAW dropped), or all with --privileged", async () => {
      const pid1 = (await b(['exec', 'ex', 'grep', 'CapBnd', '/proc/1/status'])).stdout;
      const self = (await b(['exec', 'ex', 'grep', 'CapBnd', '/proc/self/status'])).stdout;
      expect(self).toBe(pid1);
      const eff = (await b(['exec', 'ex', 'grep', 'CapEff', '/proc/self/status'])).stdout;
      const mask = BigInt(`0x${eff.split(/\s+/)[1]}`);
      expect(mask & (1n << 13n)).toBe(0n); // CAP_NET_RAW
      expect(mask & (1n << 0n)).toBe(1n); // CAP_CHOWN
      const p = await b(['exec', '--privileged', 'ex', 'grep', 'CapEff', '/proc/self/status']);
      expect(p.code, p.stderr).toBe(0);
      const priv = p.stdout;
      expect(BigInt(`0x${priv.split(/\s+/)[1]}`) & (1n << 13n)).not.toBe(0n);
    });

    it('-d: the process runs on after berth exec returned', async () => {
      const d = await b(['exec', '-d', 'ex', 'sh', '-c', 'sleep 1; echo late > /tmp/detached']);
      expect([d.code, d.stdout]).toEqual([0, '']);
      const out = await until('the detached exec to write', async () => {
        const r = await b(['exec', 'ex', 'cat', '/tmp/detached']);
        return r.code === 0 ? r.stdout : undefined;
      });
      expect(out).toBe('late\n');
    });
  });

  it('restart keeps the ID and starts the container again', async () => {
    const r = await b(['run', '-d', '--name', 'again', 'alpine', 'sh', '-c', 'echo started >> /runs; cat /runs | wc -l > /count; exec sleep 300']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    await until('the first run', async () => ((await b(['exec', 'again', 'cat', '/count'])).stdout.trim() === '1' ? true : undefined));
    const rs = await b(['restart', '-t', '1', 'again']);
    expect([rs.code, rs.stdout, rs.stderr]).toEqual([0, 'again\n', '']);
    expect(await status('again')).toMatch(/^Up /);
    expect((await b(['container', 'inspect', '--format', '{{.Id}}', 'again'])).stdout.trim()).toBe(id);
    // The same rootfs: the second run appended to what the first wrote.
    await until('the second run', async () => ((await b(['exec', 'again', 'cat', '/count'])).stdout.trim() === '2' ? true : undefined));
    // Its network is back: an address on eth0.
    expect((await b(['exec', 'again', 'ip', '-4', 'addr', 'show', 'eth0'])).stdout).toMatch(/inet 10\.236\./);
    expect((await b(['rm', '-f', 'again'])).code).toBe(0);
  });

  it('attach shows the output of a running container and exits with its status', async () => {
    const r = await b(['run', '-d', '--name', 'talker', 'alpine', 'sh', '-c', 'while [ ! -e /stop ]; do echo tick; sleep 0.2; done; echo bye; exit 5']);
    expect(r.code, r.stderr).toBe(0);
    const child = spawn(process.execPath, ['--', berthBin, 'attach', 'talker'], { env: { ...process.env, ...alpine.box.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    try {
      await until('attach to show output', async () => (out.includes('tick\n') ? true : undefined));
      expect((await b(['exec', 'talker', 'touch', '/stop'])).code).toBe(0);
      expect(await exited).toBe(5);
      expect(out).toMatch(/tick\n(tick\n)*bye\n$/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect((await b(['rm', 'talker'])).code).toBe(0);
  });
});
