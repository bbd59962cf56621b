/**
 * berth-runtime's exec child: `node init/exec.cjs` (bundled from this file), spawned by the
 * runtime in the container's pid namespace with fds 3 (report pipe) and 4 (sync pipe), like
 * the init (main.ts). It reads its start line (the ExecConfig file), waits for its go (the
 * runtime has put it in the container's cgroup), joins the container's namespaces and
 * execve()s the process (exec.ts).
 */
import { readFileSync } from 'node:fs';
import { applyProcessSecurity } from '../security/apply.js';
import { LibcSyscalls } from '@berth/sys';
import { InitPipes } from './channel.js';
import { runExec } from './exec.js';
import type { ExecConfig } from './exec.js';
import { protectInit } from './sequence.js';

const sys: LibcSyscalls = new LibcSyscalls({ credentials: 'thread' });
const channel = new InitPipes(sys);

try {
  protectInit(sys);
  sys.prepare();
  const start = channel.readStart();
  const cfg = JSON.parse(readFileSync(start.config, 'utf8')) as ExecConfig;
  const program = cfg.seccompProgram === null ? undefined : new Uint8Array(Buffer.from(cfg.seccompProgram, 'base64'));
  runExec(sys, cfg, channel, (s, spec) => {
    applyProcessSecurity(s, spec, program === undefined ? {} : { seccompProgram: program });
  });
} catch (err) {
  channel.fail(err);
}
