// Test helper, run as `node --import ./register-ts.mjs probe.mjs '<json>'` in a
// process of its own: applies a spec's process security to THIS process with
// the real LibcSyscalls (exactly what the init does before execve), then
// reports what the kernel says: /proc/self/status, rlimits, and the result of
// a few probe syscalls. Prints one JSON line.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cfunc, errnoName, lastErrno, LibcSyscalls } from '@berth/sys';
import { applyProcessSecurity } from '../apply.ts';

const input = JSON.parse(process.argv[2] ?? '{}');
const unshare = cfunc('int unshare(int flags)');
const syscall3 = cfunc('long syscall(long number, ...)');
const personality = cfunc('int personality(unsigned long persona)');
const getpid = cfunc('int getpid()');
const KEYCTL = { x64: 250, arm64: 219 }[process.arch];

function probe(fn) {
  const r = fn();
  const n = typeof r === 'bigint' ? Number(r) : r;
  return n < 0 ? { ok: false, errno: errnoName(lastErrno()) } : { ok: true, value: n };
}


const sys = new LibcSyscalls();
let applied;
try {
  applied = applyProcessSecurity(sys, input.spec, input.options ?? {});
} catch (err) {
  process.stdout.write(JSON.stringify({ error: err.message, code: err.code }) + '\n');
  process.exit(0);
}

const status = {};
for (const line of readFileSync('/proc/self/status', 'utf8').split('\n')) {
  const m = /^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):\s*(.*)$/.exec(line);
  if (m) status[m[1]] = m[2].trim();
}
const nofile = sys.getrlimit(7);
const result = {
  applied: { seccomp: applied.seccomp },
  status,
  nofile: { soft: nofile.soft.toString(), hard: nofile.hard.toString() },
  getpid: probe(() => getpid()),
  unshareUts: probe(() => unshare(0x04000000)),
  keyctl: probe(() => syscall3(KEYCTL, 'int', 0, 'int', -3, 'int', 0)),
  personalityQuery: probe(() => personality(0xffffffff)),
  personalityBsd: probe(() => personality(0x0006)),
  spawnTrue: spawnSync('/bin/true').status,
};
process.stdout.write(JSON.stringify(result) + '\n');
