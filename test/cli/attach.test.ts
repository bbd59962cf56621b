// `berth attach` and `start -a -i` through the built CLI, as a docker user sees them: a detached
// container created with -i takes the attached caller's stdin (through its shim's attach socket),
// one created without -i does not, --no-stdin and --sig-proxy as docker's.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berthBin, mirrorToolsSkip, pollUntil, useAlpineBox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

const until = <T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> => pollUntil(what, check, { timeoutMs, intervalMs: 100 });

interface Attached {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('attach with stdin (as root)', () => {
  const alpine = useAlpineBox({ images: images as string });
  const { b } = alpine;

  /** `berth attach ARGS…` with its stdin a pipe the test writes to (left open). */
  function attach(args: string[]): Attached {
    const child = spawn(process.execPath, ['--', berthBin, 'attach', ...args], { env: { ...process.env, ...alpine.box.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    return { child, out: () => out, err: () => err, exited };
  }
  const stop = (a: Attached): void => {
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
  };

  it('run -d -i: attached stdin reaches the container, its EOF leaves the stdin open for the next attach, output goes to every attach', async () => {
    const r = await b(['run', '-d', '-i', '--name', 'cat1', 'alpine', 'cat']);
    expect(r.code, r.stderr).toBe(0);
    // The shim's attach socket is root's alone, as the container's stdin is.
    const socket = statSync(path.join(alpine.box.env['BERTH_STATE'] as string, r.stdout.trim(), 'attach.sock'));
    expect([socket.isSocket(), (socket.mode & 0o777).toString(8)]).toEqual([true, '600']);
    expect((await b(['container', 'inspect', '--format', '{{.Config.OpenStdin}} {{.Config.Tty}}', 'cat1'])).stdout).toBe('true false\n');
    // The container's stdin is a pipe (its shim's), not /dev/null.
    expect((await b(['exec', 'cat1', 'readlink', '/proc/1/fd/0'])).stdout).toMatch(/^pipe:/);
    const first = attach(['cat1']);
    const second = attach(['cat1']);
    try {
      // Until the first attach is connected its input goes nowhere: type until cat echoes it.
      await until('the first attach to echo', () => {
        if (first.out().includes('hello\n')) return true;
        first.child.stdin.write('hello\n');
        return undefined;
      });
      first.child.stdin.end();
      // The first one's EOF did not close cat's stdin: the second attach's input still reaches it,
      // and both see cat's output.
      await until('the second attach to echo', () => {
        if (second.out().includes('again\n')) return true;
        second.child.stdin.write('again\n');
        return undefined;
      });
      await until('the first attach to see it too', () => (first.out().includes('again\n') ? true : undefined));
      expect((await alpine.psRow('cat1'))[4]).toMatch(/^Up /);
      expect((await b(['kill', 'cat1'])).code).toBe(0);
      expect(await first.exited).toEqual({ code: 137, signal: null });
      expect(await second.exited).toEqual({ code: 137, signal: null });
      expect(first.err()).toBe('');
    } finally {
      stop(first);
      stop(second);
    }
    expect((await b(['rm', 'cat1'])).code).toBe(0);
  });

  it('attach exits with the status of a container that ends after reading its input', async () => {
    const r = await b(['run', '-d', '-i', '--name', 'reader', 'alpine', 'sh', '-c', 'read line; echo "got:$line"; echo "err:$line" >&2; exit 3']);
    expect(r.code, r.stderr).toBe(0);
    const a = attach(['reader']);
    try {
      a.child.stdin.end('hi\n');
      expect(await a.exited).toEqual({ code: 3, signal: null });
      expect(a.out()).toBe('got:hi\n');
      expect(a.err()).toBe('err:hi\n');
    } finally {
      stop(a);
    }
    expect((await alpine.psRow('reader'))[4]).toMatch(/^Exited \(3\)/);
    expect((await b(['rm', 'reader'])).code).toBe(0);
  });

  it('--no-stdin: the input of that attach never reaches the container', async () => {
    const script = 'while ! read -t 1 line; do echo waiting; done; echo "got:$line"';
    const r = await b(['run', '-d', '-i', '--name', 'nostdin', 'alpine', 'sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    const quiet = attach(['--no-stdin', 'nostdin']);
    let typing: Attached | undefined;
    try {
      quiet.child.stdin.write('from-no-stdin\n');
      // Connected (it shows output), and a whole second more in which its input could have gone through.
      await until('the --no-stdin attach to show two lines', () => ((quiet.out().match(/waiting\n/g) ?? []).length >= 2 ? true : undefined));
      typing = attach(['nostdin']);
      const t = typing;
      await until('the container to read a line', () => {
        if (quiet.out().includes('got:')) return true;
        t.child.stdin.write('typed\n');
        return undefined;
      });
      expect(await quiet.exited).toEqual({ code: 0, signal: null });
      expect(quiet.out()).toMatch(/got:typed\n$/);
    } finally {
      stop(quiet);
      if (typing) stop(typing);
    }
    expect((await b(['rm', 'nostdin'])).code).toBe(0);
  });

  it('without -i at creation the container has no stdin to attach to (/dev/null), as docker', async () => {
    const r = await b(['run', '-d', '--name', 'noi', 'alpine', 'sh', '-c', 'while :; do echo tick; sleep 0.2; done']);
    expect(r.code, r.stderr).toBe(0);
    expect((await b(['exec', 'noi', 'readlink', '/proc/1/fd/0'])).stdout.trim()).toBe('/dev/null');
    expect((await b(['container', 'inspect', '--format', '{{.Config.OpenStdin}}', 'noi'])).stdout).toBe('false\n');
    const a = attach(['noi']);
    try {
      a.child.stdin.write('ignored\n');
      await until('attach to show output', () => (a.out().includes('tick\n') ? true : undefined));
      expect((await b(['kill', 'noi'])).code).toBe(0);
      expect(await a.exited).toEqual({ code: 137, signal: null });
    } finally {
      stop(a);
    }
    expect((await b(['rm', 'noi'])).code).toBe(0);
  });

  it('--sig-proxy (default): a signal to attach goes to the container; =false: attach alone ends', async () => {
    const script = 'trap "echo term; exit 9" TERM; echo up; while :; do sleep 0.1; done';
    expect((await b(['run', '-d', '--name', 'trapper', 'alpine', 'sh', '-c', script])).code).toBe(0);
    const unproxied = attach(['--sig-proxy=false', 'trapper']);
    const proxied = attach(['trapper']);
    try {
      // Both connected: a line written after both started reaches both.
      await until('both attaches to show output', async () => {
        await b(['exec', 'trapper', 'sh', '-c', 'echo ping > /proc/1/fd/1']);
        return unproxied.out().includes('ping\n') && proxied.out().includes('ping\n') ? true : undefined;
      });
      unproxied.child.kill('SIGTERM');
      expect(await unproxied.exited).toEqual({ code: null, signal: 'SIGTERM' });
      expect((await alpine.psRow('trapper'))[4]).toMatch(/^Up /);
      proxied.child.kill('SIGTERM');
      expect(await proxied.exited).toEqual({ code: 9, signal: null });
      expect(proxied.out()).toMatch(/term\n$/);
    } finally {
      stop(unproxied);
      stop(proxied);
    }
    expect((await b(['rm', 'trapper'])).code).toBe(0);
  });

  it('start -a -i: stdin reaches a container created with -i only', async () => {
    expect((await b(['create', '--name', 'noi-start', 'alpine', 'sh', '-c', 'cat; echo "rc=$?"'])).code).toBe(0);
    const r = await b(['start', '-a', '-i', 'noi-start'], 'hello\n');
    expect([r.code, r.stdout]).toEqual([0, 'rc=0\n']);
    expect((await b(['rm', 'noi-start'])).code).toBe(0);
  });

  it('--detach-keys that are not keys are refused in one line', async () => {
    expect((await b(['run', '-d', '--name', 'keys', 'alpine', 'sleep', '300'])).code).toBe(0);
    const r = await b(['attach', '--detach-keys', 'ctrl-P', 'keys']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^berth: invalid --detach-keys "ctrl-P": "ctrl-P" is not a key/);
    expect((await b(['rm', '-f', 'keys'])).code).toBe(0);
  });
});
