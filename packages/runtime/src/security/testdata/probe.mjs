// Test helper, run as `node --import ./register-ts.mjs probe.mjs '<json>'` in a
// process of its own: applies a spec's process security to THIS process with
// the real LibcSyscalls (exactly what the init does before execve), then
// reports what the kernel says: /proc/self/status, rlimits, and the result of
// a few probe syscalls. Prints one JSON line.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import koffi from 'koffi';
import { applyProcessSecurity } from '../apply.ts';
import { LibcSyscalls } from '../../sys/libc.ts';

const input = JSON.parse(process.argv[2] ?? '{}');
const libc = koffi.load('libc.so.6');
const unshare = libc.func('int unshare(int flags)');
const syscall3 = libc.func('long syscall(long number, ...)');
const personality = libc.func('int personality(unsigned long persona)');
const getpid = libc.func('int getpid()');
const KEYCTL = { x64: 250, arm64: 219 }[process.arch];

function probe(fn) {
  const r = fn();
  const n = typeof r === 'bigint' ? Number(r) : r;
  return n < 0 ? { ok: false, errno: errnoName(koffi.errno()) } : { ok: true, value: n };
}

function errnoName(n) {
  for (const [name, value] of Object.entries(constants.errno)) if (value === n) return name;
  return `errno ${n}`;
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
