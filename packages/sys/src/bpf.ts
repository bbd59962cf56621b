import { BerthError } from '@berth/oci';
import { SysError } from './errors.js';
import { addressOf, lastErrno, lazyFunc } from './libc.js';

/*
 * bpf(2), for the runtime's cgroup v2 device filter: load a program and attach
 * it. The attrs are laid out here (union bpf_attr, linux/bpf.h); the program
 * itself is the caller's.
 */

export const BPF_PROG_LOAD = 5;
export const BPF_PROG_ATTACH = 8;
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
export const BPF_F_ALLOW_MULTI = 2;

const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280 };

const sysBpf = /* @__PURE__ */ lazyFunc('long syscall(long number, int cmd, void *attr, unsigned int size)');

/** bpf(cmd, attr): the non-negative result; a failure throws SysError `bpf: <ERRNO>`. */
function bpf(cmd: number, attr: Buffer): number {
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) throw new BerthError('EUNSUPPORTED', `bpf(2) on ${process.arch} is not supported`);
  const r = Number(sysBpf()(nr, cmd, attr, attr.length) as number | bigint);
  if (r < 0) throw new SysError('bpf', lastErrno());
  return r;
}

export interface BpfProgLoad {
  /** BPF_PROG_TYPE_*. */
  type: number;
  /** struct bpf_insn[] (8 bytes per instruction). */
  instructions: Buffer;
  license: string;
  /** prog_name: up to 15 bytes. */
  name: string;
}

/** BPF_PROG_LOAD: the new program's fd (the caller closes it). */
export function bpfProgLoad(prog: BpfProgLoad): number {
  const license = Buffer.from(`${prog.license}\0`);
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(prog.type, 0);
  attr.writeUInt32LE(prog.instructions.length / 8, 4);
  attr.writeBigUInt64LE(addressOf(prog.instructions), 8);
  attr.writeBigUInt64LE(addressOf(license), 16);
  attr.write(prog.name.slice(0, 15), 48, 'latin1'); // prog_name (16 bytes, NUL-padded by alloc)
  return bpf(BPF_PROG_LOAD, attr);
}

export interface BpfProgAttach {
  /** The fd of what the program is attached to (a cgroup directory). */
  targetFd: number;
  progFd: number;
  /** BPF_CGROUP_*. */
  attachType: number;
  /** BPF_F_*. */
  flags: number;
}

/** BPF_PROG_ATTACH. */
export function bpfProgAttach(a: BpfProgAttach): void {
  const attr = Buffer.alloc(32);
  attr.writeUInt32LE(a.targetFd, 0);
  attr.writeUInt32LE(a.progFd, 4);
  attr.writeUInt32LE(a.attachType, 8);
  attr.writeUInt32LE(a.flags, 12);
  bpf(BPF_PROG_ATTACH, attr);
}
