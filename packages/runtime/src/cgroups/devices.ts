import { closeSync, openSync } from 'node:fs';
import { BerthError } from '@berth/oci';
import { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, bpfProgAttach, bpfProgLoad, SysError } from '@berth/sys';

/*
 * cgroup v2 has no devices controller: device access is decided by an eBPF
 * program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup (what
 * runc's devicefilter and systemd do). This module turns docker-style rules
 * ("c 1:3 rwm") into such a program and attaches it through bpf(2).
 */

/** Docker's default device rules (moby oci/defaults.go): mknod anything, open only these. */
export const DEFAULT_DEVICE_RULES: readonly string[] = Object.freeze([
  'c *:* m',
  'b *:* m',
  'c 1:3 rwm', // /dev/null
  'c 1:8 rwm', // /dev/random
  'c 1:7 rwm', // /dev/full
  'c 5:0 rwm', // /dev/tty
  'c 1:5 rwm', // /dev/zero
  'c 1:9 rwm', // /dev/urandom
  'c 136:* rwm', // /dev/pts/*
  'c 5:2 rwm', // /dev/ptmx
  'c 10:200 rwm', // /dev/net/tun
]);

export interface DeviceRule {
  /** 'a' matches both. */
  type: 'a' | 'b' | 'c';
  major: number | '*';
  minor: number | '*';
  /** Subset of "rwm". */
  access: string;
}

/** "c 1:3 rwm", "b *:* m", "a" (everything). */
export function parseDeviceRule(rule: string): DeviceRule {
  const t = rule.trim();
  if (t === 'a') return { type: 'a', major: '*', minor: '*', access: 'rwm' };
  const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]{1,3})$/.exec(t);
  if (!m) throw new BerthError('EINVAL_ARGUMENT', `cgroup: invalid device rule "${rule}"`);
  const num = (s: string): number | '*' => (s === '*' ? '*' : Number(s));
  return { type: m[1] as DeviceRule['type'], major: num(m[2] as string), minor: num(m[3] as string), access: m[4] as string };
}

// struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major; u32 minor; }
const BPF_DEVCG_DEV_BLOCK = 1;
const BPF_DEVCG_DEV_CHAR = 2;
const BPF_DEVCG_ACC_MKNOD = 1;
const BPF_DEVCG_ACC_READ = 2;
const BPF_DEVCG_ACC_WRITE = 4;

// eBPF opcodes used (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K = 0x54; // dst &= imm
const ALU32_RSH_K = 0x74; // dst >>= imm
const ALU32_MOV_K = 0xb4; // dst = imm
const ALU32_MOV_X = 0xbc; // dst = src
const JMP_JNE_K = 0x55; // if dst != imm goto +off
const JMP_JNE_X = 0x5d; // if dst != src goto +off
const JMP_EXIT = 0x95;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

/**
 * The device program for an allow-list (default deny): one block per rule,
 * `r0 = 1; exit` when type, requested access ⊆ allowed access, major and minor
 * all match; `r0 = 0; exit` after the last block. Registers: r2 type, r3
 * requested access, r4 major, r5 minor (r1, the context, is reused as scratch
 * after the loads).
 */
export function buildDeviceProgram(rules: readonly string[]): Buffer {
  const parsed = rules.map(parseDeviceRule);
  const out: Insn[] = [
    insn(LDX_MEM_W, 2, 1, 0, 0),
    insn(ALU32_AND_K, 2, 0, 0, 0xffff),
    insn(LDX_MEM_W, 3, 1, 0, 0),
    insn(ALU32_RSH_K, 3, 0, 0, 16),
    insn(LDX_MEM_W, 4, 1, 4, 0),
    insn(LDX_MEM_W, 5, 1, 8, 0),
  ];
  for (const rule of parsed) {
    const block: Insn[] = [];
    // Each check jumps to the end of this block (filled in below) when it does not match.
    const checks: number[] = [];
    if (rule.type !== 'a') {
      checks.push(block.length);
      block.push(insn(JMP_JNE_K, 2, 0, 0, rule.type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
    }
    const access =
      (rule.access.includes('m') ? BPF_DEVCG_ACC_MKNOD : 0) |
      (rule.access.includes('r') ? BPF_DEVCG_ACC_READ : 0) |
      (rule.access.includes('w') ? BPF_DEVCG_ACC_WRITE : 0);
    if (access !== 7) {
      block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
      block.push(insn(ALU32_AND_K, 1, 0, 0, access));
      checks.push(block.length);
      block.push(insn(JMP_JNE_X, 1, 3, 0, 0));
    }
    if (rule.major !== '*') {
      checks.push(block.length);
      block.push(insn(JMP_JNE_K, 4, 0, 0, rule.major));
    }
    if (rule.minor !== '*') {
      checks.push(block.length);
      block.push(insn(JMP_JNE_K, 5, 0, 0, rule.minor));
    }
    block.push(insn(ALU32_MOV_K, 0, 0, 0, 1));
    block.push(insn(JMP_EXIT, 0, 0, 0, 0));
    for (const at of checks) (block[at] as Insn).off = block.length - at - 1;
    out.push(...block);
  }
  out.push(insn(ALU32_MOV_K, 0, 0, 0, 0));
  out.push(insn(JMP_EXIT, 0, 0, 0, 0));

  const buf = Buffer.alloc(out.length * 8);
  out.forEach((i, n) => {
    buf.writeUInt8(i.code, n * 8);
    buf.writeUInt8(((i.src & 0xf) << 4) | (i.dst & 0xf), n * 8 + 1); // little-endian bit fields: dst_reg low nibble
    buf.writeInt16LE(i.off, n * 8 + 2);
    buf.writeInt32LE(i.imm | 0, n * 8 + 4);
  });
  return buf;
}

/** A bpf(2) step; a failure is ECGROUP `cgroup: <what>: <ERRNO>` (details: syscall, errno). */
function bpfStep<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof SysError) {
      throw new BerthError('ECGROUP', `cgroup: ${what}: ${err.errno}`, { details: { syscall: 'bpf', errno: err.errno }, cause: err });
    }
    if (err instanceof BerthError) throw new BerthError(err.code, `cgroup: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Load the device program for `rules` and attach it to the cgroup v2 directory
 * `dir` (BPF_F_ALLOW_MULTI: programs of parent cgroups still apply, and all
 * must allow). The attachment lives as long as the cgroup; no fd is kept.
 */
export function attachDeviceFilter(dir: string, rules: readonly string[]): void {
  const instructions = buildDeviceProgram(rules);
  const progFd = bpfStep(`load the device program for ${dir}`, () =>
    bpfProgLoad({ type: BPF_PROG_TYPE_CGROUP_DEVICE, instructions, license: 'Apache-2.0', name: 'berth_devices' }),
  );
  let cgroupFd: number | undefined;
  try {
    cgroupFd = openSync(dir, 'r');
    const targetFd = cgroupFd;
    bpfStep(`attach the device program to ${dir}`, () =>
      bpfProgAttach({ targetFd, progFd, attachType: BPF_CGROUP_DEVICE, flags: BPF_F_ALLOW_MULTI }),
    );
  } finally {
    if (cgroupFd !== undefined) closeSync(cgroupFd);
    closeSync(progFd);
  }
}
