/**
 * `berth run`'s standard streams without -t: the container's fds 0-2 are pipes
 * berth made and relays (as docker and podman do), never berth's own fds, so a
 * container cannot reopen the host file berth's output was redirected to (or its
 * input came from) through /proc/self/fd, nor reach the host's terminal.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, sharedImagesDir } from '@berth/testing';
import { berth, berthBin, mirrorSandbox, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
const tmux = findBinary('tmux');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

describe.skipIf(!images || !isRoot)("berth run's standard streams (as root)", () => {
  let box: MirrorSandbox;

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
    // Pulled once here, so that no test below sees pull output.
    const pulled = await berth(['pull', '-q', 'alpine'], { env: box.env });
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  afterAll(async () => {
    await box?.cleanup();
  });

  /** `berth run --rm ARGS` with the given fds or pipes as its stdio; output collected where piped. */
  function runWith(args: string[], stdio: { stdin?: number | Buffer; stdout?: number } = {}): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--', berthBin, 'run', '--rm', ...args], {
        env: { ...process.env, CI: '1', ...box.env },
        stdio: [typeof stdio.stdin === 'number' ? stdio.stdin : 'pipe', stdio.stdout ?? 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (c: Buffer) => out.push(c));
      child.stderr?.on('data', (c: Buffer) => err.push(c));
      if (child.stdin) {
        child.stdin.on('error', () => {});
        child.stdin.end(stdio.stdin instanceof Buffer ? stdio.stdin : undefined);
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
      });
    });
  }

  it('a container cannot truncate or rewrite the host files berth was redirected to (its fds are pipes)', async () => {
    const log = path.join(box.dir, 'host.log');
    fs.writeFileSync(log, 'host data\n');
    const input = path.join(box.dir, 'host.input');
    fs.writeFileSync(input, 'host input\n');
    // `berth run … >> host.log < host.input`: the container reopens its fds through /proc, with O_TRUNC.
    const out = fs.openSync(log, 'a');
    const inp = fs.openSync(input, 'r');
    let r: Ran;
    try {
      r = await runWith(
        ['-i', 'alpine', 'sh', '-c', 'echo "$(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1)" >&2; : > /proc/self/fd/1; echo overwritten > /proc/self/fd/0; echo appended'],
        { stdin: inp, stdout: out },
      );
    } finally {
      fs.closeSync(out);
      fs.closeSync(inp);
    }
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(log, 'utf8')).toBe('host data\nappended\n');
    expect(fs.readFileSync(input, 'utf8')).toBe('host input\n');
    expect(r.stderr).toMatch(/^pipe:\[\d+\] pipe:\[\d+\]\n$/);
  });

  it('without -i the container reads an empty stdin (/dev/null), and berth leaves its own stdin unread', async () => {
    const r = await runWith(['alpine', 'sh', '-c', 'readlink /proc/self/fd/0; wc -c'], { stdin: Buffer.from('not for the container\n') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('/dev/null\n0\n');
  });

  it('relays stdout and stderr apart, and feeds stdin with -i up to its EOF', async () => {
    const input = Buffer.alloc(3 * 1024 * 1024 + 17, 'stdin-');
    const r = await runWith(['-i', 'alpine', 'sh', '-c', 'echo out1; echo err1 >&2; sha256sum | cut -d" " -f1; echo err2 >&2; echo out2'], { stdin: input });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe(`out1\n${createHash('sha256').update(input).digest('hex')}\nout2\n`);
    expect(r.stderr).toBe('err1\nerr2\n');
  });

  it('writes every byte on before it exits with the container status', async () => {
    // 40 MiB of random bytes, their hash on stderr, and a status of 5 right after the last write.
    const r = await runWith(['alpine', 'sh', '-c', 'head -c 41943040 /dev/urandom | tee /tmp/d; sha256sum < /tmp/d | cut -d" " -f1 >&2; exit 5']);
    expect(r.code).toBe(5);
    expect(r.stdout.length).toBe(41943040);
    expect(r.stderr).toBe(`${createHash('sha256').update(r.stdout).digest('hex')}\n`);
  });

  it('when its stdout is closed (| head -1), the container gets EPIPE/SIGPIPE and berth exits with its status, no error of its own', async () => {
    /** `{ berth run --rm ARGS; echo "berth exited $?" >&2; } | head -1`: head's output, and the stderr of both. */
    const pipeline = (args: string) =>
      new Promise<{ out: string; err: string }>((resolve, reject) => {
        const cmd = `{ ${JSON.stringify(process.execPath)} ${JSON.stringify(berthBin)} run --rm ${args}; echo "berth exited $?" >&2; } | head -1`;
        const sh = spawn('sh', ['-c', cmd], { env: { ...process.env, CI: '1', ...box.env }, stdio: ['ignore', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        sh.stdout.on('data', (c: Buffer) => out.push(c));
        sh.stderr.on('data', (c: Buffer) => err.push(c));
        const timer = setTimeout(() => sh.kill('SIGKILL'), 120_000);
        sh.on('error', reject);
        sh.on('close', () => {
          clearTimeout(timer);
          resolve({ out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() });
        });
      });
    // As PID 1, `yes` does not die of SIGPIPE (the kernel spares a pid namespace's init the
    // signals it has no handler for): its write fails with EPIPE and it exits 1.
    const asInit = await pipeline('alpine yes');
    expect(asInit.out).toBe('y\n');
    expect(asInit.err).toMatch(/^(yes: [^\n]*\n)?berth exited 1\n$/);
    // Under --init it is PID 2: SIGPIPE kills it, and tini exits 128+13.
    const underTini = await pipeline('--init alpine yes');
    expect(underTini.out).toBe('y\n');
    expect(underTini.err).toBe('berth exited 141\n');
  });
});

/** On a real terminal (tmux): without -t the container cannot reach it. */
describe.skipIf(!images || !isRoot || !tmux)("berth run's standard streams on a terminal (as root)", () => {
  let box: MirrorSandbox;
  const session = `berth-stdio-${process.pid}`;

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
  });

  afterAll(async () => {
    spawnSync('tmux', ['kill-session', '-t', session]);
    await box?.cleanup();
  });

  it('a container run without -t cannot change the host terminal\'s modes (tcsetattr through its fd 1)', async () => {
    const env = Object.entries(box.env).map(([k, v]) => `${k}=${v}`);
    // Node puts its stdio's terminal modes back when it exits, so the host terminal is looked at
    // while the container runs: it changes the modes of whatever its fd 1 is (`stty … <&1`),
    // says so through a shared directory, and waits until the host shell has looked.
    const shared = fs.mkdtempSync(path.join(box.dir, 'tty-'));
    const inContainer = 'stty -icanon -echo <&1; readlink /proc/self/fd/1; touch /shared/changed; while [ ! -e /shared/seen ]; do sleep 0.1; done';
    const run = ['env', '-u', 'CI', ...env, 'TERM=xterm', process.execPath, berthBin, 'run', '--rm', '-v', `${shared}:/shared`, 'alpine', 'sh', '-c', inContainer]
      .map((a) => `'${a}'`)
      .join(' ');
    const host = `while [ ! -e ${shared}/changed ]; do sleep 0.1; done; echo "during: $(stty -a | grep -o -- '-\\?icanon')"; touch ${shared}/seen`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '30', `${run} & ${host}; wait; echo "exit=$?"; sleep 60`]);
    let screen = '';
    for (let i = 0; i < 1200 && !/^exit=\d+/m.test(screen); i++) {
      await sleep(100);
      screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
    }
    expect(screen).toMatch(/^exit=0\s*$/m);
    // The host terminal stayed canonical: the container's stty met a pipe, not the terminal.
    expect(screen).toMatch(/^during: icanon\s*$/m);
    expect(screen).toMatch(/^pipe:\[\d+\]\s*$/m);
  });
});
