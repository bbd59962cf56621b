import { BerthError } from '@berth/oci';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM, TIOCSWINSZ } from '@berth/sys';
import type { Syscalls } from '@berth/sys';
import { attachHostTerminal, PtyConnection } from '../launch/stdio.js';

/**
 * berth-runtime's terminals, as runc makes them: with `process.terminal`, the init opens a pty
 * in the container's devpts (its slave becomes the process's stdio and controlling terminal;
 * init/sequence.ts `setupTerminal`) and this process gets the master (pidfd_getfd). A detached
 * caller (`create`, `exec --detach`: an engine) gets it over `--console-socket`: one message
 * on an AF_UNIX stream socket, SCM_RIGHTS carrying the fd and the payload naming it, as runc's
 * `utils.SendFile`. A foreground `run` or `exec` relays it to its own stdio instead.
 */

/** runc's checkTerminal: which combinations of terminal, console socket and detaching are refused. */
export function checkTerminal(o: { terminal: boolean; consoleSocket: string | undefined; detach: boolean }): void {
  if (o.detach && o.terminal && o.consoleSocket === undefined) {
    throw new BerthError('EINVAL_ARGUMENT', 'cannot allocate tty if berth-runtime will detach without setting console socket');
  }
  if ((!o.detach || !o.terminal) && o.consoleSocket !== undefined) {
    throw new BerthError('EINVAL_ARGUMENT', 'cannot use console socket if berth-runtime will not detach or allocate tty');
  }
}

/** process.consoleSize on the pty (the master's window size is the terminal's). */
export function setConsoleSize(sys: Syscalls, master: number, size: { height: number; width: number } | undefined): void {
  if (size === undefined || size.height === 0 || size.width === 0) return;
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(Math.min(size.height, 0xffff), 0);
  ws.writeUInt16LE(Math.min(size.width, 0xffff), 2);
  sys.ioctl(master, TIOCSWINSZ, ws);
}

/** Sends the pty master to the console socket at `socketPath` (then closes this process's copy). */
export function sendConsole(sys: Syscalls, socketPath: string, master: number): void {
  let sock: number | undefined;
  try {
    sock = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sys.connectUnix(sock, socketPath);
    sys.sendFds(sock, '/dev/ptmx', [master]);
  } catch (err) {
    throw BerthError.wrap(`send the terminal to --console-socket ${socketPath}`, err);
  } finally {
    if (sock !== undefined) sys.close(sock);
    sys.close(master);
  }
}

/**
 * A foreground `run`/`exec` with a terminal and no console socket (runc's own pty relay):
 * stdin to the pty (raw mode while stdin is a terminal), its output to stdout, the window
 * size followed. `finish()` once the process has exited: waits (at most `graceMs`) for the
 * output still in the pty, then restores stdin.
 */
export function relayTerminal(sys: Syscalls, master: number): { finish(graceMs?: number): Promise<void> } {
  const pty = new PtyConnection(sys, master);
  const detach = attachHostTerminal(pty, true, { hangUp: false });
  return {
    async finish(graceMs = 5000): Promise<void> {
      await pty.drained(graceMs);
      detach();
      process.stdin.destroy();
      pty.close();
    },
  };
}
