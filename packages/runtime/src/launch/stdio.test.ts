/**
 * The container's stdio on the runtime's side: prepareStdio's pipes (never this
 * process's fds) and attachHostStreams, the relay `berth run` uses without -t,
 * against in-process streams standing in for the host's stdio.
 */
import * as fs from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LibcSyscalls } from '@berth/sys';
import { attachHostStreams, closeChildSide, openStreams, prepareStdio, releaseStdio } from './stdio.js';
import type { StdioStreams } from './stdio.js';

const sys = new LibcSyscalls();
const link = (fd: number): string => fs.readlinkSync(`/proc/self/fd/${fd}`);
const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A host stream that takes its time over each write (a slow reader of berth's stdout). */
class SlowSink extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(private readonly delayMs: number) {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      this.chunks.push(chunk);
      cb();
    }, this.delayMs);
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/** A host stream whose reader has gone (EPIPE on every write). */
class ClosedSink extends Writable {
  override _write(_chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  }
}

/** The container's side: plain streams for its stdout/stderr (what it writes) and stdin (what it reads). */
function container(opts: { stdin?: boolean } = {}): StdioStreams & { stdout: PassThrough; stderr: PassThrough; stdin: PassThrough | null } {
  return { stdout: new PassThrough(), stderr: new PassThrough(), stdin: opts.stdin ? new PassThrough() : null };
}

describe('prepareStdio', () => {
  it('gives the child three pipes of its own, never this process fds; fitted: stdin /dev/null without -i, nothing read with a terminal', () => {
    const all = prepareStdio(sys);
    try {
      expect(all.childFds.every((fd) => fd > 2)).toBe(true);
      expect(all.childFds.map(link)).toEqual([expect.stringMatching(/^pipe:/), expect.stringMatching(/^pipe:/), expect.stringMatching(/^pipe:/)]);
      // Each parent end is the other end of its child pipe.
      expect(link(all.parent.stdin as number)).toBe(link(all.childFds[0]));
      expect(link(all.parent.stdout as number)).toBe(link(all.childFds[1]));
      expect(link(all.parent.stderr as number)).toBe(link(all.childFds[2]));
      expect(all.stdinNull).toBe(false);
    } finally {
      releaseStdio(sys, all);
    }
    const plain = prepareStdio(sys, { interactive: false, terminal: false });
    expect(plain.stdinNull).toBe(true);
    expect(plain.parent.stdin).toBeNull();
    expect(plain.parent.stdout).not.toBeNull();
    releaseStdio(sys, plain);
    const term = prepareStdio(sys, { interactive: true, terminal: true });
    expect(term.stdinNull).toBe(false);
    expect(term.parent).toEqual({ stdin: null, stdout: null, stderr: null });
    releaseStdio(sys, term);
  });

  it('carries what the child writes to the streams openStreams makes', async () => {
    const p = prepareStdio(sys, { interactive: true, terminal: false });
    const streams = openStreams(p);
    expect(p.parent).toEqual({ stdin: null, stdout: null, stderr: null });
    const childOut = p.childFds[1];
    const childIn = p.childFds[0];
    const got: Buffer[] = [];
    streams.stdout?.on('data', (c: Buffer) => got.push(c));
    const ended = new Promise((r) => streams.stdout?.once('end', r));
    fs.writeSync(childOut, 'from the container\n');
    streams.stdin?.end('to the container\n');
    await new Promise((r) => streams.stdin?.once('finish', r));
    const buf = Buffer.alloc(64);
    expect(buf.subarray(0, fs.readSync(childIn, buf)).toString()).toBe('to the container\n');
    closeChildSide(sys, p);
    await ended;
    expect(Buffer.concat(got).toString()).toBe('from the container\n');
    streams.stderr?.destroy();
  });
});

describe('attachHostStreams', () => {
  it('keeps stdout and stderr apart and in order, and flushed waits until a slow host stream took every byte', async () => {
    const c = container();
    const out = new SlowSink(2);
    const err = new SlowSink(1);
    const relay = attachHostStreams(c, { interactive: false, stdout: out, stderr: err });
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines.push(`line ${i} ${'x'.repeat(100)}\n`);
      c.stdout.write(lines[i]);
      if (i % 50 === 0) c.stderr.write(`err ${i}\n`);
    }
    c.stdout.end();
    c.stderr.end();
    let flushed = false;
    void relay.flushed.then(() => (flushed = true));
    await tick(5);
    // The container's output has ended, but the host's stdout has not taken it all yet.
    expect(flushed).toBe(false);
    await relay.flushed;
    expect(out.text()).toBe(lines.join(''));
    expect(err.text()).toBe('err 0\nerr 50\nerr 100\nerr 150\n');
    relay.detach();
  });

  it('applies backpressure: the container stream is paused while the host stream is full', async () => {
    const c = container();
    const out = new SlowSink(50);
    const relay = attachHostStreams(c, { interactive: false, stdout: out, stderr: new SlowSink(0) });
    for (let i = 0; i < 20; i++) c.stdout.write(Buffer.alloc(4096, 1));
    await tick();
    expect(c.stdout.isPaused()).toBe(true);
    c.stdout.end();
    c.stderr.end();
    await relay.flushed;
    expect(Buffer.concat(out.chunks).length).toBe(20 * 4096);
  });

  it('when the host stdout fails (EPIPE), closes the container pipe and carries on: flushed resolves, stderr still relayed, nothing thrown', async () => {
    const c = container();
    const err = new SlowSink(0);
    const relay = attachHostStreams(c, { interactive: false, stdout: new ClosedSink(), stderr: err });
    c.stdout.write('lost\n');
    await tick();
    // The container's stdout pipe is closed (its next write fails as in a shell pipeline).
    expect(c.stdout.destroyed).toBe(true);
    c.stderr.end('still here\n');
    await relay.flushed;
    expect(err.text()).toBe('still here\n');
  });

  it('without -i leaves the host stdin alone and gives the container an ended stdin', async () => {
    const c = container({ stdin: true });
    const hostIn = new PassThrough();
    hostIn.write('not read\n');
    const relay = attachHostStreams(c, { interactive: false, stdin: hostIn, stdout: new SlowSink(0), stderr: new SlowSink(0) });
    await tick();
    expect(hostIn.listenerCount('data')).toBe(0);
    expect(hostIn.readableLength).toBe('not read\n'.length);
    expect(c.stdin?.writableEnded).toBe(true);
    c.stdout.end();
    c.stderr.end();
    await relay.flushed;
  });

  it('with -i feeds the host stdin to the container up to its EOF, which is passed on', async () => {
    const c = container({ stdin: true });
    const hostIn = new PassThrough();
    const relay = attachHostStreams(c, { interactive: true, stdin: hostIn, stdout: new SlowSink(0), stderr: new SlowSink(0) });
    const got: Buffer[] = [];
    c.stdin?.on('data', (b: Buffer) => got.push(b));
    const ended = new Promise((r) => c.stdin?.once('end', r));
    hostIn.write('one\n');
    hostIn.end('two\n');
    await ended;
    expect(Buffer.concat(got).toString()).toBe('one\ntwo\n');
    c.stdout.end();
    c.stderr.end();
    await relay.flushed;
    relay.detach();
  });

  it('detach() stops reading the host stdin (an open stdin does not keep berth alive after the container)', async () => {
    const c = container({ stdin: true });
    const hostIn = new PassThrough();
    const relay = attachHostStreams(c, { interactive: true, stdin: hostIn, stdout: new SlowSink(0), stderr: new SlowSink(0) });
    const got: Buffer[] = [];
    c.stdin?.on('data', (b: Buffer) => got.push(b));
    hostIn.write('before\n');
    await tick();
    relay.detach();
    hostIn.write('after\n');
    await tick();
    expect(Buffer.concat(got).toString()).toBe('before\n');
    expect(hostIn.isPaused()).toBe(true);
    expect(hostIn.listenerCount('data')).toBe(0);
  });

  it('when the container stops reading its stdin (EPIPE), reading the host stdin stops', async () => {
    const c = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: new ClosedSink() };
    const hostIn = new PassThrough();
    const relay = attachHostStreams(c, { interactive: true, stdin: hostIn, stdout: new SlowSink(0), stderr: new SlowSink(0) });
    hostIn.write('nobody reads this\n');
    await tick();
    expect(hostIn.isPaused()).toBe(true);
    expect(hostIn.listenerCount('data')).toBe(0);
    c.stdout.end();
    c.stderr.end();
    await relay.flushed;
    relay.detach();
  });
});
