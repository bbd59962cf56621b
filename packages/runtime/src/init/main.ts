/**
 * The init child: `node init/main.cjs` (the bundle built from this file), spawned by the runtime in
 * fresh pid/mount/uts/ipc(/net) namespaces with fds 3 (report pipe, to the
 * runtime) and 4 (sync pipe, from the runtime). It may be started before its
 * container exists (Runtime.warm parks one while the rootfs is being copied): it
 * loads what it needs, then blocks on the sync pipe until the runtime sends the
 * start line (InitStart: the config file) and the go byte. It then sets the
 * container up with synchronous system calls and execve()s the container's
 * process, so PID 1 of the container is that process (or tini with --init), never Node.
 *
 * Start-up matters (every `berth run` pays it): this file is bundled (esbuild)
 * with only koffi external, and must import nothing heavy.
 */
import { readFileSync } from 'node:fs';
import { applyProcessSecurity } from '../security/apply.js';
import { LibcSyscalls } from '../sys/libc.js';
import { errnoOf } from '../sys/errors.js';
import { REPORT_FD, SYNC_FD } from './config.js';
import type { InitConfig, InitMessage, InitStart } from './config.js';
import { ExecFailure, protectInit, runInit } from './sequence.js';
import type { InitChannel } from './sequence.js';

const now = (): number => performance.timeOrigin + performance.now();
const marks: Array<[string, number]> = [['init-node-start', performance.timeOrigin]];

// Credentials through the raw per-thread system calls: execve keeps only this thread, and
// glibc's wrappers would signal and wait for every Node thread (tens of ms under load).
const sys: LibcSyscalls = new LibcSyscalls({ credentials: 'thread' });

/** Bytes read from SYNC_FD and not used yet. */
let pending = new Uint8Array(0);

/** Reads at least one more byte from SYNC_FD into `pending`; false at EOF. */
function fill(): boolean {
  const buf = new Uint8Array(4096);
  for (;;) {
    let n: number;
    try {
      n = sys.read(SYNC_FD, buf);
    } catch (err) {
      if (errnoOf(err) === 'EINTR') continue;
      throw err;
    }
    if (n === 0) return false;
    const next = new Uint8Array(pending.length + n);
    next.set(pending);
    next.set(buf.subarray(0, n), pending.length);
    pending = next;
    return true;
  }
}

/** berth-runtime's init after `created`: its creator is gone; an error goes to the container's stderr. */
let released = false;

const channel: InitChannel = {
  send(msg: InitMessage): void {
    if (released) {
      if (msg.type === 'error') {
        try {
          sys.write(2, `berth-runtime: ${msg.message}\n`);
        } catch {
          // No stderr either.
        }
      }
      return;
    }
    try {
      sys.write(REPORT_FD, `${JSON.stringify(msg)}\n`);
    } catch {
      // The runtime is gone; nobody is left to tell.
    }
  },
  waitForParent(what: string): void {
    if (pending.length === 0 && !fill()) throw new ExecFailure(`wait for the runtime (${what}): the runtime went away`, 125);
    pending = pending.subarray(1);
  },
  release(): void {
    released = true;
    sys.close(REPORT_FD);
  },
};

/** The start line (InitStart JSON) from SYNC_FD. */
function readStart(): InitStart {
  let nl: number;
  while ((nl = pending.indexOf(10)) < 0) {
    if (pending.length > 65536) throw new Error('read the start line: too long');
    if (!fill()) throw new ExecFailure('wait for the runtime (start): the runtime went away', 125);
  }
  const line = Buffer.from(pending.subarray(0, nl)).toString('utf8');
  pending = pending.subarray(nl + 1);
  const start = JSON.parse(line) as InitStart;
  if (typeof start.config !== 'string') throw new Error('read the start line: no config');
  return start;
}

function fail(err: unknown): never {
  const e = err as { code?: unknown; message?: unknown; details?: unknown };
  const exitCode = err instanceof ExecFailure ? err.exitCode : 125;
  channel.send({
    type: 'error',
    code: typeof e.code === 'string' ? e.code : 'ERUNTIME',
    message: typeof e.message === 'string' ? e.message.split('\n')[0] ?? '' : String(err),
    exitCode,
    details: typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {},
  });
  // _exit: Node's own fds may already be closed, so no Node teardown.
  sys.exit(exitCode);
}

try {
  // Non-dumpable, and dies with the runtime.
  protectInit(sys);
  sys.prepare();
  marks.push(['init-loaded', now()]);
  const start = readStart();
  const cfg = JSON.parse(readFileSync(start.config, 'utf8')) as InitConfig;
  const program = cfg.seccompProgram === null ? undefined : new Uint8Array(Buffer.from(cfg.seccompProgram, 'base64'));
  runInit(
    sys,
    cfg,
    channel,
    (s, spec) => {
      applyProcessSecurity(s, spec, program === undefined ? {} : { seccompProgram: program });
    },
    { stdinNull: start.stdinNull, marks },
  );
} catch (err) {
  fail(err);
}
