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
import { LibcSyscalls } from '@berth/sys';
import { InitPipes } from './channel.js';
import type { InitConfig } from './config.js';
import { protectInit, runInit } from './sequence.js';

const now = (): number => performance.timeOrigin + performance.now();
const marks: Array<[string, number]> = [['init-node-start', performance.timeOrigin]];

// Credentials through the raw per-thread system calls: execve keeps only this thread, and
// glibc's wrappers would signal and wait for every Node thread (tens of ms under load).
const sys: LibcSyscalls = new LibcSyscalls({ credentials: 'thread' });

const channel = new InitPipes(sys);

try {
  // Non-dumpable, and dies with the runtime.
  protectInit(sys);
  sys.prepare();
  marks.push(['init-loaded', now()]);
  const start = channel.readStart();
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
  channel.fail(err);
}
