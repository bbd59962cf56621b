import * as fs from 'node:fs';
import * as net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import { BerthError } from '@berth/oci';
import { attachHostStreams, attachHostTerminal } from '../launch/stdio.js';
import type { TerminalEnd } from '../launch/stdio.js';
import { ATTACH_SOCKET, FRAME, FrameDecoder, encodeFrames, readExit, resizeFrame, socketAddress } from './attach-protocol.js';
import type { RuntimeContext } from './context.js';
import { killContainer } from './kill.js';
import { FORWARDED_SIGNALS } from './signal.js';
import { readLogs } from './logs.js';
import type { LogEntry } from './logs.js';
import { describe } from './state.js';

export interface AttachOptions {
  /** Connect this process's stdin (only a container created with `-i` takes it; default true). */
  stdin?: boolean;
  /** Without a tty: this process's signals go to the container's PID 1 (docker's `--sig-proxy`, default true). */
  sigProxy?: boolean;
  /** With a tty and stdin: the sequence (parseDetachKeys) that detaches, leaving the container running. */
  detachKeys?: Buffer;
}

export interface AttachResult {
  /** The container's exit status (0 when detached). */
  exitCode: number;
  /** The detach keys were typed: the container runs on. */
  detached: boolean;
}

/**
 * `attach`: this process's stdio on a running detached container through its shim's attach
 * socket (lifecycle/attach-protocol.ts): its output from now on, stdout and stderr apart (or
 * its terminal's, with a tty: raw mode and the window size followed, attachHostTerminal), and,
 * when it was created with `-i`, this process's stdin (attachHostStreams' relay; an EOF here
 * leaves the container's stdin open, as docker's `-d -i` does). Resolves with the container's
 * exit status once it stops, or `detached` on the detach keys. A container whose shim has no
 * socket (started by an older berth) is followed through its log, output only.
 */
export async function attachContainer(ctx: RuntimeContext, id: string, opts: AttachOptions = {}): Promise<AttachResult> {
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `attach to container ${id.slice(0, 12)}: no such container`);
  const info = describe(state);
  if (info.status !== 'running') throw new BerthError('ECONTAINER_STATE', 'You cannot attach to a stopped container, start it first');
  const withStdin = opts.stdin !== false && state.openStdin === true;
  // docker's check and words: a terminal's input must be a terminal.
  if (withStdin && state.tty && process.stdin.isTTY !== true) throw new BerthError('EINVAL_ARGUMENT', 'the input device is not a TTY');

  const unproxy = !state.tty && opts.sigProxy !== false ? proxySignals(ctx, id) : () => undefined;
  try {
    const file = ctx.store.file(id, ATTACH_SOCKET);
    if (!fs.existsSync(file)) return { exitCode: await followLog(ctx, id), detached: false };
    const socket = await connect(file);
    try {
      return await relay(ctx, id, socket, { tty: state.tty, withStdin, ...(opts.detachKeys ? { detachKeys: opts.detachKeys } : {}) });
    } finally {
      socket.destroy();
    }
  } finally {
    unproxy();
  }
}

function proxySignals(ctx: RuntimeContext, id: string): () => void {
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  for (const sig of FORWARDED_SIGNALS) {
    const h = (): void => {
      try {
        killContainer(ctx, id, sig);
      } catch {
        // Stopped meanwhile: its exit is on its way.
      }
    };
    process.on(sig, h);
    handlers.push([sig, h]);
  }
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

async function connect(file: string): Promise<net.Socket> {
  const address = socketAddress(file);
  try {
    return await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(address.path);
      s.once('connect', () => resolve(s));
      s.once('error', (err) => reject(BerthError.wrap('attach: connect to the container\'s shim', err)));
    });
  } finally {
    address.release();
  }
}

/** The socket's frames to this process's stdio and back, until the exit frame, the socket's end or a detach. */
async function relay(ctx: RuntimeContext, id: string, socket: net.Socket, opts: { tty: boolean; withStdin: boolean; detachKeys?: Buffer }): Promise<AttachResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let exitCode: number | undefined;
  let detached = false;
  let finish!: () => void;
  const over = new Promise<void>((resolve) => (finish = resolve));
  const end = (): void => {
    stdout.end();
    stderr.end();
    finish();
  };
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const f of decoder.push(chunk)) {
        if (f.type === FRAME.stdout) stdout.write(f.payload);
        else if (f.type === FRAME.stderr) stderr.write(f.payload);
        else if (f.type === FRAME.exit) exitCode = readExit(f.payload);
      }
    } catch {
      socket.destroy();
    }
  });
  socket.once('end', end);
  socket.once('close', end);
  socket.on('error', () => undefined);
  // What this process types goes out as stdin frames; an EOF ends nothing (the container's stdin stays open).
  const input = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (socket.destroyed) return cb();
      if (socket.write(encodeFrames(FRAME.stdin, chunk))) cb();
      else socket.once('drain', () => cb());
    },
    final(cb) {
      cb();
    },
  });

  let release: () => void;
  let flushed: Promise<void> = Promise.resolve();
  if (opts.tty) {
    const terminal: TerminalEnd = {
      output: stdout as Readable as TerminalEnd['output'],
      input,
      resize: (columns, rows) => void socket.write(resizeFrame(columns, rows)),
      // The host terminal is gone (hang-up) or the detach keys were typed: leave the container as it is.
      close: () => {
        detached = true;
        socket.destroy();
      },
    };
    // A hang-up (SIGHUP, stdin's end) and the detach keys both leave the container running.
    release = attachHostTerminal(terminal, opts.withStdin, opts.detachKeys ? { detachKeys: { keys: opts.detachKeys, onDetach: () => terminal.close() } } : {});
  } else {
    const r = attachHostStreams({ stdin: opts.withStdin ? input : null, stdout, stderr }, { interactive: opts.withStdin });
    flushed = r.flushed;
    release = r.detach;
  }
  try {
    await over;
    await flushed;
    // With a tty the output is piped: the last of it may still be on its way to stdout.
    if (opts.tty) await new Promise<void>((resolve) => (stdout.readableEnded ? resolve() : stdout.once('end', resolve)));
  } finally {
    release();
  }
  if (detached) return { exitCode: 0, detached: true };
  if (exitCode !== undefined) return { exitCode, detached: false };
  // The shim went away without a word: what the state says.
  const s = ctx.store.read(id);
  return { exitCode: (s === undefined ? undefined : describe(s).exitCode) ?? 0, detached: false };
}

/** A container without an attach socket: its log from now on until it stops, output only. */
async function followLog(ctx: RuntimeContext, id: string): Promise<number> {
  const stream = readLogs(ctx, id, { follow: true, tail: 0 });
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (e: LogEntry) => (e.stream === 'stderr' ? process.stderr : process.stdout).write(e.log));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const s = ctx.store.read(id);
  return (s === undefined ? undefined : describe(s).exitCode) ?? 0;
}
