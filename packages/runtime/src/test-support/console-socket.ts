/**
 * The engine's end of `--console-socket`, for berth-runtime's tests (what conmon and containerd's
 * shim do): listens on an AF_UNIX socket, receives the pty master that berth-runtime sends with
 * SCM_RIGHTS, and drives the terminal (reads its output, types into it). Not part of the build.
 */
import { AF_UNIX, LibcSyscalls, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, errnoOf } from '@berth/sys';
import { PtyConnection } from '../launch/stdio.js';
import { until } from './fixtures.js';

const sys = new LibcSyscalls();

/** A listening console socket; `receive()` takes the next terminal sent to it. */
export class ConsoleSocket {
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    try {
      sys.bindUnix(this.fd, path);
      sys.listen(this.fd, 4);
    } catch (err) {
      sys.close(this.fd);
      throw err;
    }
  }

  /** The next connection's message: the name in its payload and the fd it carried. */
  async receive(timeoutMs = 30_000): Promise<{ name: string; fd: number }> {
    const conn = await until(() => retry(() => sys.accept(this.fd, SOCK_CLOEXEC | SOCK_NONBLOCK)), timeoutMs, 20);
    try {
      const buf = new Uint8Array(4096);
      const got = await until(() => retry(() => sys.recvFds(conn, buf, 4)), timeoutMs, 20);
      if (got.fds.length !== 1) throw new Error(`console socket: expected one fd, got ${got.fds.length} (${got.bytes} bytes)`);
      return { name: Buffer.from(buf.subarray(0, got.bytes)).toString(), fd: got.fds[0] as number };
    } finally {
      sys.close(conn);
    }
  }

  close(): void {
    sys.close(this.fd);
  }
}

/** undefined while the call would block. */
function retry<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch (err) {
    if (errnoOf(err) === 'EAGAIN') return undefined;
    throw err;
  }
}

/** A received terminal: everything it printed so far, typing into it, waiting for output. */
export class TerminalDriver {
  private readonly pty: PtyConnection;
  output = '';
  private ended = false;

  constructor(master: number) {
    this.pty = new PtyConnection(sys, master);
    this.pty.output.setEncoding('utf8');
    this.pty.output.on('data', (d: string) => (this.output += d));
    this.pty.output.on('end', () => (this.ended = true));
  }

  type(text: string): void {
    this.pty.input.write(text);
  }

  /** Waits until the output matches `re` (or the terminal is gone); returns the output. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
    try {
      await until(() => re.test(this.output) || this.ended, timeoutMs);
    } catch {
      // Reported below with what was seen.
    }
    if (!re.test(this.output)) throw new Error(`terminal: ${re} not seen in ${JSON.stringify(this.output)}`);
    return this.output;
  }

  close(): void {
    this.pty.close();
  }
}
