/**
 * The init child: `node init/main.cjs <config.json>` (the bundle built from this file), spawned by the runtime in
 * fresh pid/mount/uts/ipc(/net) namespaces with fds 3 (report pipe, to the
 * runtime) and 4 (sync pipe, from the runtime). It sets the container up with
 * synchronous system calls and execve()s the container's process, so PID 1 of
 * the container is that process (or tini with --init), never Node.
 *
 * Start-up matters (every `berth run` pays it): this file is bundled (esbuild)
 * with only koffi external, and must import nothing heavy.
 */
import { readFileSync } from 'node:fs';
import { applyProcessSecurity } from '../security/apply.js';
import { LibcSyscalls } from '../sys/libc.js';
import { errnoOf } from '../sys/errors.js';
import { REPORT_FD, SYNC_FD } from './config.js';
import type { InitConfig, InitMessage } from './config.js';
import { ExecFailure, runInit } from './sequence.js';
import type { InitChannel } from './sequence.js';

const sys: LibcSyscalls = new LibcSyscalls();

const channel: InitChannel = {
  send(msg: InitMessage): void {
    try {
      sys.write(REPORT_FD, `${JSON.stringify(msg)}\n`);
    } catch {
      // The runtime is gone; nobody is left to tell.
    }
  },
  waitForParent(what: string): void {
    const b = new Uint8Array(1);
    for (;;) {
      let n: number;
      try {
        n = sys.read(SYNC_FD, b);
      } catch (err) {
        if (errnoOf(err) === 'EINTR') continue;
        throw err;
      }
      if (n === 1) return;
      throw new ExecFailure(`wait for the runtime (${what}): the runtime went away`, 125);
    }
  },
};

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
  const configPath = process.argv[2];
  if (configPath === undefined) throw new Error('usage: init <config.json>');
  const cfg = JSON.parse(readFileSync(configPath, 'utf8')) as InitConfig;
  const program = cfg.seccompProgram === null ? undefined : new Uint8Array(Buffer.from(cfg.seccompProgram, 'base64'));
  runInit(sys, cfg, channel, (s, spec) => {
    applyProcessSecurity(s, spec, program === undefined ? {} : { seccompProgram: program });
  });
} catch (err) {
  fail(err);
}
