import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import * as tty from 'node:tty';
import { O_CLOEXEC, O_RDWR, TIOCSWINSZ } from '@berth/sys';
import type { Syscalls } from '@berth/sys';

export type StdioMode = 'inherit' | 'pipe';

/** The container's fds 0-2 and this process's ends of them. */
export interface PreparedStdio {
  /** What the init child gets as fds 0, 1, 2. */
  childFds: [number, number, number];
  /** The init replaces fd 0 with /dev/null (it gets this process's stdin, and the container is not interactive). */
  stdinNull: boolean;
  /** This process's copies of the child's ends: close them once the child has its own. */
  childSide: number[];
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}

/**
 * Prepares the container's stdio:
 * - inherit: this process's 0-2, always (so an init parked by Runtime.warm fits
 *   any foreground container); without `interactive` the init itself replaces
 *   stdin with /dev/null (`stdinNull`), and with a terminal it replaces all three;
 * - pipe: a pipe per stream (stdin only with `interactive`), wrapped in sockets here;
 * - pipe with a terminal: /dev/null for all three, since the init puts the slave of
 *   its own pty there (the master comes back through onPty, see PtyConnection).
 */
export function prepareStdio(sys: Syscalls, mode: StdioMode, interactive: boolean, terminal: boolean): PreparedStdio {
  const opened: number[] = [];
  const devNull = (): number => {
    const fd = sys.open('/dev/null', O_RDWR | O_CLOEXEC);
    opened.push(fd);
    return fd;
  };
  try {
    if (mode === 'inherit') {
      return { childFds: [0, 1, 2], stdinNull: !interactive && !terminal, childSide: [], stdin: null, stdout: null, stderr: null };
    }
    if (terminal) {
      const n = devNull();
      return { childFds: [n, n, n], stdinNull: false, childSide: [n], stdin: null, stdout: null, stderr: null };
    }
    const pipe = (): [number, number] => {
      const p = sys.pipe2(O_CLOEXEC);
      opened.push(...p);
      return p;
    };
    let stdinFd: number;
    let stdin: Writable | null = null;
    const childSide: number[] = [];
    if (interactive) {
      const [r, w] = pipe();
      stdinFd = r;
      stdin = new Socket({ fd: w, readable: false, writable: true });
    } else {
      stdinFd = devNull();
    }
    childSide.push(stdinFd);
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    childSide.push(outW, errW);
    const stdout = new Socket({ fd: outR, readable: true, writable: false });
    const stderr = new Socket({ fd: errR, readable: true, writable: false });
    return { childFds: [stdinFd, outW, errW], stdinNull: false, childSide, stdin, stdout, stderr };
  } catch (err) {
    for (const fd of opened) {
      try {
        sys.close(fd);
      } catch {
        // Best effort.
      }
    }
    throw err;
  }
}

/** Closes this process's copies of the child's stdio ends. */
export function closeChildSide(sys: Syscalls, p: PreparedStdio): void {
  for (const fd of new Set(p.childSide)) {
    try {
      sys.close(fd);
    } catch {
      // Closed already.
    }
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

/**
 * Connects a container terminal to this process's terminal: raw mode on stdin
 * (when it is a TTY and input is wanted), output to stdout, window size
 * followed. When the host terminal goes away (stdin ends or fails: in raw
 * mode that only happens on a hangup), the container's terminal is hung up
 * too (the master closed), as a real terminal would be. Returns a function
 * restoring the host terminal.
 */
export function attachHostTerminal(pty: PtyConnection, interactive: boolean): () => void {
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
  if (interactive) {
    stdin.pipe(pty.input, { end: false });
    stdin.once('end', hangup);
    stdin.once('error', hangup);
  }
  return () => {
    stdin.off('end', hangup);
    stdin.off('error', hangup);
    out.off('resize', resize);
    pty.output.unpipe(out);
    if (interactive) {
      stdin.unpipe(pty.input);
      stdin.pause();
    }
    if (raw) stdin.setRawMode(false);
  };
}
