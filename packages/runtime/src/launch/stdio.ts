import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import * as tty from 'node:tty';
import { O_CLOEXEC, O_RDWR, TIOCSWINSZ } from '@berth/sys';
import type { Syscalls } from '@berth/sys';
import type { LogWriter } from '../lifecycle/logs.js';
import { DetachKeyScanner } from './detach-keys.js';

/**
 * The container's fds 0-2: always three pipes made here, never this process's
 * own fds (a container given the runtime's stdout could truncate the file it
 * was redirected to, or tcsetattr() its terminal). The runtime relays them
 * (Runtime.run with stdio 'inherit' copies them to and from its own stdio).
 */
export interface PreparedStdio {
  /** What the init child gets as fds 0, 1, 2 (the pipes' child ends; this process's copies, O_CLOEXEC). */
  childFds: [number, number, number];
  /** The init replaces fd 0 with the container's /dev/null (it is not interactive). */
  stdinNull: boolean;
  /**
   * This process's ends, as raw fds until openStreams() wraps them (a raw fd does
   * not keep the process alive: an init parked with these does not either): the
   * write end of stdin, the read ends of stdout and stderr; null when not wanted.
   */
  parent: { stdin: number | null; stdout: number | null; stderr: number | null };
}

/** This process's ends of the container's stdio, as streams. */
export interface StdioStreams {
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}

/**
 * Makes the container's stdio: a pipe per stream, then fitted to the container
 * (fitStdio). Without `fit`, all three stay open (an init parked by
 * Runtime.warm, before anyone knows whether the container is interactive).
 */
export function prepareStdio(sys: Syscalls, fit?: { interactive: boolean; terminal: boolean }): PreparedStdio {
  const opened: number[] = [];
  try {
    const pipe = (): [number, number] => {
      const p = sys.pipe2(O_CLOEXEC);
      opened.push(...p);
      return p;
    };
    const [inR, inW] = pipe();
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    const p: PreparedStdio = { childFds: [inR, outW, errW], stdinNull: false, parent: { stdin: inW, stdout: outR, stderr: errR } };
    return fit === undefined ? p : fitStdio(sys, p, fit);
  } catch (err) {
    for (const fd of opened) closeQuietly(sys, fd);
    throw err;
  }
}

/**
 * Fits prepared stdio to the container: without `interactive` the init puts the
 * container's /dev/null on fd 0 (docker's empty stdin) and the stdin pipe's
 * write end is closed; with a terminal the init puts the pty slave on 0-2 (the
 * master comes back through onPty, see PtyConnection), so none of the pipes is read.
 */
export function fitStdio(sys: Syscalls, p: PreparedStdio, fit: { interactive: boolean; terminal: boolean }): PreparedStdio {
  const drop = (k: keyof PreparedStdio['parent']): void => {
    const fd = p.parent[k];
    if (fd !== null) closeQuietly(sys, fd);
    p.parent[k] = null;
  };
  if (fit.terminal) {
    drop('stdin');
    drop('stdout');
    drop('stderr');
    p.stdinNull = false;
  } else if (!fit.interactive) {
    drop('stdin');
    p.stdinNull = true;
  }
  return p;
}

/** Wraps this process's ends in streams (they are the streams' from now on; reading starts at once). */
export function openStreams(p: PreparedStdio): StdioStreams {
  const { stdin, stdout, stderr } = p.parent;
  p.parent = { stdin: null, stdout: null, stderr: null };
  return {
    stdin: stdin === null ? null : new Socket({ fd: stdin, readable: false, writable: true }),
    stdout: stdout === null ? null : new Socket({ fd: stdout, readable: true, writable: false }),
    stderr: stderr === null ? null : new Socket({ fd: stderr, readable: true, writable: false }),
  };
}

/** Closes this process's copies of the child's ends (once the init has its own, or never will). */
export function closeChildSide(sys: Syscalls, p: PreparedStdio): void {
  for (const fd of new Set(p.childFds)) closeQuietly(sys, fd);
}

/** Closes everything of `p` still held as raw fds (stdio nobody will use). */
export function releaseStdio(sys: Syscalls, p: PreparedStdio): void {
  closeChildSide(sys, p);
  for (const fd of Object.values(p.parent)) if (fd !== null) closeQuietly(sys, fd);
  p.parent = { stdin: null, stdout: null, stderr: null };
}

function closeQuietly(sys: Syscalls, fd: number): void {
  try {
    sys.close(fd);
  } catch {
    // Closed already.
  }
}

/**
 * The runtime's side of the container's terminal: the pty master (copied out
 * of the init with pidfd_getfd). Reading and writing use two fds of the same
 * master (epoll needs distinct fds for two handles).
 */
export class PtyConnection {
  readonly output: Readable;
  readonly input: Writable;
  /** Resolves once the output has ended (every holder of the slave closed it) or was destroyed. */
  private readonly outputEnded: Promise<void>;

  constructor(
    private readonly sys: Syscalls,
    private readonly master: number,
  ) {
    const writeFd = sys.fcntl(master, 1030 /* F_DUPFD_CLOEXEC */, 3);
    this.output = new tty.ReadStream(master);
    this.input = new tty.WriteStream(writeFd);
    // When the last slave fd closes (the container is gone), reads fail with EIO: that is the end.
    this.output.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EIO') this.output.push(null);
    });
    this.input.on('error', () => {});
    this.outputEnded = new Promise<void>((resolve) => {
      this.output.once('end', resolve);
      this.output.once('close', resolve);
    });
  }

  /**
   * Once the process has exited: what it wrote last may still be in the pty. Resolves when the
   * output has ended, or after `graceMs` (other holders of the slave, e.g. its background
   * children, may keep it open).
   */
  async drained(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.outputEnded, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  /** Sets the terminal size (the kernel sends SIGWINCH to the container's foreground process group). */
  resize(columns: number, rows: number): void {
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(Math.max(1, Math.min(rows, 0xffff)), 0);
    ws.writeUInt16LE(Math.max(1, Math.min(columns, 0xffff)), 2);
    this.sys.ioctl(this.master, TIOCSWINSZ, ws);
  }

  close(): void {
    this.output.destroy();
    this.input.destroy();
  }
}

/** A container's terminal as attachHostTerminal uses it: a PtyConnection, or `attach`'s socket to a shim holding one. */
export type TerminalEnd = Pick<PtyConnection, 'output' | 'input' | 'resize' | 'close'>;

/**
 * Connects a container terminal to this process's terminal: raw mode on stdin
 * (when it is a TTY and input is wanted), output to stdout, window size
 * followed. When the host terminal goes away (SIGHUP, or stdin ends or fails: in raw
 * mode that only happens on a hangup), the container's terminal is hung up
 * too (the master closed: its shell reads EOF and exits, even as PID 1, which ignores an
 * unhandled SIGHUP), as a real terminal would be (not with `hangUp: false`:
 * runc's relay copies stdin until EOF and leaves the terminal open). With `detachKeys`, typed
 * input is watched for that sequence (DetachKeyScanner): it is not passed on and `onDetach`
 * runs. Returns a function restoring the host terminal.
 */
export function attachHostTerminal(
  pty: TerminalEnd,
  interactive: boolean,
  opts: { hangUp?: boolean; detachKeys?: { keys: Buffer; onDetach: () => void } } = {},
): () => void {
  const out = process.stdout;
  const resize = (): void => {
    if (out.isTTY) {
      try {
        pty.resize(out.columns, out.rows);
      } catch {
        // The container is gone.
      }
    }
  };
  resize();
  out.on('resize', resize);
  pty.output.pipe(out, { end: false });
  const stdin = process.stdin;
  const raw = interactive && stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const hangup = (): void => pty.close();
  const detachKeys = opts.detachKeys;
  let typed: ((chunk: Buffer) => void) | undefined;
  if (interactive && detachKeys !== undefined) {
    const scanner = new DetachKeyScanner(detachKeys.keys);
    typed = (chunk: Buffer): void => {
      const { forward, detached } = scanner.push(chunk);
      if (forward.length > 0 && !pty.input.write(forward)) {
        stdin.pause();
        pty.input.once('drain', () => stdin.resume());
      }
      if (detached) detachKeys.onDetach();
    };
    stdin.on('data', typed);
  } else if (interactive) {
    stdin.pipe(pty.input, { end: false });
  }
  if (opts.hangUp !== false) {
    process.on('SIGHUP', hangup);
    if (interactive) {
      stdin.once('end', hangup);
      stdin.once('error', hangup);
    }
  }
  return () => {
    process.off('SIGHUP', hangup);
    stdin.off('end', hangup);
    stdin.off('error', hangup);
    out.off('resize', resize);
    pty.output.unpipe(out);
    if (interactive) {
      if (typed !== undefined) stdin.off('data', typed);
      else stdin.unpipe(pty.input);
      stdin.pause();
    }
    if (raw) stdin.setRawMode(false);
  };
}

/**
 * Copies `src` to `dst` with backpressure (src pauses while dst's buffer is
 * full). `done` resolves once src has ended and everything was written, or
 * dst failed (then `failed` runs: the caller decides what becomes of src), or
 * stop() was called. `end`: dst.end() after src's end.
 */
function relay(src: Readable, dst: Writable, opts: { end: boolean; failed: () => void; tap?: (chunk: Buffer) => void }): { done: Promise<void>; stop(): void } {
  const tap = opts.tap;
  let pending = 0;
  let ended = false;
  let over = false;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const finish = (): void => {
    if (over) return;
    over = true;
    src.off('data', onData);
    src.off('end', onEnd);
    src.off('close', onEnd);
    src.off('error', onEnd);
    dst.off('drain', onDrain);
    resolve();
  };
  const fail = (): void => {
    if (over) return;
    finish();
    opts.failed();
  };
  const check = (): void => {
    if (!ended || pending > 0 || over) return;
    if (opts.end) dst.end();
    finish();
  };
  const written = (err?: Error | null): void => {
    pending--;
    if (err) fail();
    else check();
  };
  function onData(chunk: Buffer): void {
    tap?.(chunk);
    pending++;
    let ok: boolean;
    try {
      ok = dst.write(chunk, written);
    } catch {
      // A synchronous stream (a file) that throws: as failed as an EPIPE.
      pending--;
      fail();
      return;
    }
    if (!ok) src.pause();
  }
  function onDrain(): void {
    if (!over) src.resume();
  }
  function onEnd(): void {
    ended = true;
    check();
  }
  src.on('data', onData);
  src.once('end', onEnd);
  src.once('close', onEnd);
  src.once('error', onEnd);
  dst.on('drain', onDrain);
  // Stays on: a failed write's 'error' comes after its callback, and unheard it would crash the process.
  dst.on('error', fail);
  return { done, stop: finish };
}

/**
 * Attaches a container's piped stdio to this process's own (Runtime.run with
 * stdio 'inherit' and no terminal): its stdout to `stdout`, its stderr to
 * `stderr` (kept apart), and with `interactive` `stdin` to its stdin (an EOF
 * is passed on); defaults: process.stdout, process.stderr, process.stdin.
 * Without `interactive` this process's stdin is not touched.
 *
 * Writes keep their order, with backpressure: a slow reader of berth's stdout
 * slows the container down, as in a shell pipeline. When `stdout` or `stderr`
 * fails (EPIPE: `berth run … | head -1`), that output pipe is closed, so the
 * container's next write to it fails as it would in the pipeline itself
 * (SIGPIPE, or EPIPE where it is ignored); berth itself carries on. When the
 * container stops reading its stdin, reading this process's stdin stops.
 *
 * With `log`, the output is also appended to the container's log (docker's
 * json-file lines, as the shim writes for a detached container), each chunk as
 * it passes; the caller ends and closes the writer.
 *
 * `flushed` resolves once both output pipes have ended and all they carried
 * was written on (or could not be). detach() stops reading stdin; call it once
 * the container has exited, so that an open stdin does not keep berth alive.
 */
export function attachHostStreams(
  io: StdioStreams,
  opts: { interactive: boolean; stdin?: Readable; stdout?: Writable; stderr?: Writable; log?: Pick<LogWriter, 'write'> },
): { flushed: Promise<void>; detach(): void } {
  const outputs: Array<Promise<void>> = [];
  const log = opts.log;
  for (const [src, dst, name] of [
    [io.stdout, opts.stdout ?? process.stdout, 'stdout'],
    [io.stderr, opts.stderr ?? process.stderr, 'stderr'],
  ] as const) {
    if (src === null) continue;
    const tap = log === undefined ? undefined : (chunk: Buffer) => log.write(name, chunk);
    outputs.push(relay(src, dst, { end: false, failed: () => src.destroy(), ...(tap ? { tap } : {}) }).done);
  }
  let detach = (): void => {};
  if (opts.interactive && io.stdin !== null) {
    const host = opts.stdin ?? process.stdin;
    const input = relay(host, io.stdin, { end: true, failed: () => host.pause() });
    detach = () => {
      input.stop();
      host.pause();
    };
  } else {
    io.stdin?.end();
  }
  return { flushed: Promise.all(outputs).then(() => undefined), detach };
}
