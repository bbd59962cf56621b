import { closeSync, openSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, bpfProgAttach, bpfProgLoad, SysError } from './index.js';

const isRoot = process.getuid?.() === 0;

/** eBPF: r0 = imm; exit. */
function returns(imm: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(0xb4, 0); // ALU32 MOV K, dst r0
  b.writeInt32LE(imm, 4);
  b.writeUInt8(0x95, 8); // EXIT
  return b;
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe.skipIf(!isRoot)('bpf (needs root)', () => {
  it('loads a device program (an fd the kernel names bpf-prog) and refuses a program that does not end', () => {
    const fd = bpfProgLoad({ type: BPF_PROG_TYPE_CGROUP_DEVICE, instructions: returns(1), license: 'Apache-2.0', name: 'berth_test' });
    try {
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe('anon_inode:bpf-prog');
      // Attaching to something that is not a cgroup directory is refused by the kernel, as a SysError.
      const notCgroup = openSync(tmpdir(), 'r');
      try {
        const err = caught(() => bpfProgAttach({ targetFd: notCgroup, progFd: fd, attachType: BPF_CGROUP_DEVICE, flags: BPF_F_ALLOW_MULTI }));
        expect(err).toBeInstanceOf(SysError);
        expect((err as SysError).syscall).toBe('bpf');
      } finally {
        closeSync(notCgroup);
      }
    } finally {
      closeSync(fd);
    }
    const bad = caught(() => bpfProgLoad({ type: BPF_PROG_TYPE_CGROUP_DEVICE, instructions: returns(1).subarray(0, 8), license: 'Apache-2.0', name: 'berth_bad' }));
    expect(bad).toBeInstanceOf(SysError);
    expect((bad as SysError).message).toMatch(/^bpf: E[A-Z]+$/);
  });
});
