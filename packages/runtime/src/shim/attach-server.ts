import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { FRAME, FrameDecoder, encodeFrames, exitFrame, readResize, socketAddress } from '../lifecycle/attach-protocol.js';

/** How far (bytes queued) an attach client may fall behind the container's output before it is dropped. */
const MAX_BEHIND = 16 << 20;

/** The current run of the container, as the attach server needs it. */
export interface AttachTarget {
  /** The container's stdin (a pipe, or the terminal's input with a tty); null when it has none. */
  stdin: Writable | null;
  resize?: (columns: number, rows: number) => void;
}

/**
 * The shim's side of `berth attach` (lifecycle/attach-protocol.ts): a unix socket in the
 * container's state directory, owner-only. Output of the current run goes to every connected
 * client; `stdin` frames go to the current run's stdin only when the container was created
 * with `-i` (`openStdin`); a client's leaving never closes the container's stdin (docker's
 * `-d -i`: another attach can go on typing). At the end of each run every client gets the
 * exit status and is disconnected, as docker's attach ends when the container stops.
 */
export class AttachServer {
  private readonly clients = new Set<net.Socket>();
  private target: AttachTarget | undefined;
  private readonly server: net.Server;
  private readonly address: { path: string; release(): void };

  private constructor(file: string, private readonly openStdin: boolean) {
    this.address = socketAddress(file);
    try {
      fs.rmSync(file, { force: true });
    } catch {
      // Nothing there.
    }
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', () => undefined);
  }

  /** Listens at `file` (mode 0600: root's alone, as the container's stdin is). */
  static async listen(file: string, opts: { openStdin: boolean }): Promise<AttachServer> {
    const s = new AttachServer(file, opts.openStdin);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      // The socket is made with the umask's mode: owner-only from its first moment (listen()
      // binds synchronously; the umask is the process's, so it is put back at once).
      const umask = process.umask(0o177);
      try {
        s.server.listen(s.address.path, () => {
          s.server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    // Connections must not keep the shim alive once the container is done.
    s.server.unref();
    return s;
  }

  private accept(socket: net.Socket): void {
    this.clients.add(socket);
    const decoder = new FrameDecoder();
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.clients.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of decoder.push(chunk)) {
          if (f.type === FRAME.stdin) this.input(socket, f.payload);
          else if (f.type === FRAME.resize) {
            const size = readResize(f.payload);
            if (size !== undefined) this.resize(size.columns, size.rows);
          }
        }
      } catch {
        socket.destroy();
      }
    });
  }

  private resize(columns: number, rows: number): void {
    try {
      this.target?.resize?.(columns, rows);
    } catch {
      // The terminal is gone with its run.
    }
  }

  private input(from: net.Socket, data: Buffer): void {
    const stdin = this.openStdin ? this.target?.stdin : undefined;
    if (stdin === undefined || stdin === null || stdin.destroyed || data.length === 0) return;
    if (!stdin.write(data)) {
      from.pause();
      stdin.once('drain', () => from.resume());
    }
  }

  /** A new run of the container started: its stdin and terminal are the ones fed from now on. */
  startRun(target: AttachTarget): void {
    this.target = target;
    // The shim writes to the pipe of a process that may be gone: EPIPE is not the shim's end.
    target.stdin?.on('error', () => undefined);
  }

  /**
   * A chunk of the current run's output, to every client. The container never waits for an
   * attach (its log is the record): a client that has more than MAX_BEHIND unread is dropped.
   */
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.clients.size === 0) return;
    const frame = encodeFrames(stream === 'stdout' ? FRAME.stdout : FRAME.stderr, chunk);
    for (const c of this.clients) {
      if (c.writableLength > MAX_BEHIND) c.destroy();
      else c.write(frame);
    }
  }

  /** Passes a readable's data to output() as it comes. */
  tap(stream: 'stdout' | 'stderr', source: Readable | null): void {
    source?.on('data', (chunk: Buffer) => this.output(stream, chunk));
  }

  /** The current run ended (its output all sent): each client gets the status and is let go. */
  endRun(exitCode: number): void {
    this.target = undefined;
    const frame = exitFrame(exitCode);
    for (const c of this.clients) c.end(frame);
    this.clients.clear();
  }

  close(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    this.server.close();
    this.address.release();
  }
}
