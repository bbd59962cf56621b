import type { Syscalls } from '@berth/sys';
import { F_DUPFD_CLOEXEC, errnoOf } from '@berth/sys';
import { REPORT_FD, SYNC_FD } from './config.js';
import type { InitMessage, InitStart } from './config.js';
import { ExecFailure } from './sequence.js';
import type { InitChannel } from './sequence.js';

/**
 * The init side of the runtime's pipes, shared by the container's init (main.ts) and
 * berth-runtime's exec child (exec-main.ts): messages out on REPORT_FD, the start line and the
 * go bytes in on SYNC_FD, all with synchronous calls.
 */
export class InitPipes implements InitChannel {
  /** Bytes read from SYNC_FD and not used yet. */
  private pending = new Uint8Array(0);
  /** berth-runtime's init after `created`: its creator is gone; an error goes to the container's stderr. */
  private released = false;
  /** The pipes' fds (moved by relocate()). */
  private report = REPORT_FD;
  private sync = SYNC_FD;

  constructor(private readonly sys: Syscalls) {}

  /** Reads at least one more byte from SYNC_FD into `pending`; false at EOF. */
  private fill(): boolean {
    const buf = new Uint8Array(4096);
    for (;;) {
      let n: number;
      try {
        n = this.sys.read(this.sync, buf);
      } catch (err) {
        if (errnoOf(err) === 'EINTR') continue;
        throw err;
      }
      if (n === 0) return false;
      const next = new Uint8Array(this.pending.length + n);
      next.set(this.pending);
      next.set(buf.subarray(0, n), this.pending.length);
      this.pending = next;
      return true;
    }
  }

  send(msg: InitMessage): void {
    if (this.released) {
      if (msg.type === 'error') {
        try {
          this.sys.write(2, `berth-runtime: ${msg.message}\n`);
        } catch {
          // No stderr either.
        }
      }
      return;
    }
    try {
      this.sys.write(this.report, `${JSON.stringify(msg)}\n`);
    } catch {
      // The runtime is gone; nobody is left to tell.
    }
  }

  waitForParent(what: string): void {
    if (this.pending.length === 0 && !this.fill()) throw new ExecFailure(`wait for the runtime (${what}): the runtime went away`, 125);
    this.pending = this.pending.subarray(1);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.sys.close(this.report);
  }

  relocate(minFd: number): void {
    if (!this.released) {
      const r = this.sys.fcntl(this.report, F_DUPFD_CLOEXEC, minFd);
      this.sys.close(this.report);
      this.report = r;
    }
    const s = this.sys.fcntl(this.sync, F_DUPFD_CLOEXEC, minFd);
    this.sys.close(this.sync);
    this.sync = s;
  }

  /** The start line (InitStart JSON) from SYNC_FD. */
  readStart(): InitStart {
    let nl: number;
    while ((nl = this.pending.indexOf(10)) < 0) {
      if (this.pending.length > 65536) throw new Error('read the start line: too long');
      if (!this.fill()) throw new ExecFailure('wait for the runtime (start): the runtime went away', 125);
    }
    const line = Buffer.from(this.pending.subarray(0, nl)).toString('utf8');
    this.pending = this.pending.subarray(nl + 1);
    const start = JSON.parse(line) as InitStart;
    if (typeof start.config !== 'string') throw new Error('read the start line: no config');
    return start;
  }

  /** Reports `err` to the runtime and _exits with its status (125, or the ExecFailure's). */
  fail(err: unknown): never {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    const exitCode = err instanceof ExecFailure ? err.exitCode : 125;
    this.send({
      type: 'error',
      code: typeof e.code === 'string' ? e.code : 'ERUNTIME',
      message: typeof e.message === 'string' ? e.message.split('\n')[0] ?? '' : String(err),
      exitCode,
      details: typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {},
    });
    // _exit: Node's own fds may already be closed, so no Node teardown.
    this.sys.exit(exitCode);
  }
}
