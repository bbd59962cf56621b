import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import { AUDIT_ARCH_X86_64, enosysStub, RET_ERRNO_ENOSYS } from './enosys.js';
import { compileSeccomp } from './libseccomp.js';
import { defaultSeccompProfile } from './seccomp.js';
import type { SeccompProfile } from './seccomp-types.js';

/*
 * A classic BPF interpreter for the instructions libseccomp and the stub emit
 * (anything else throws, so a program it cannot read fails the test), run over
 * a seccomp_data { nr, arch, instruction_pointer, args[6] }.
 */
const AUDIT_ARCH_I386 = 0x40000003;
const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const X32 = 0x40000000;

function run(program: Buffer, call: { nr: number; arch: number; args?: number[] }): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(call.nr, 0);
  data.writeUInt32LE(call.arch, 4);
  (call.args ?? []).forEach((a, i) => data.writeBigUInt64LE(BigInt(a), 16 + 8 * i));
  const le = endianness() === 'LE';
  let acc = 0;
  let pc = 0;
  for (let steps = 0; steps < 100_000; steps++) {
    if (pc * 8 >= program.length) throw new Error(`fell off the program at ${pc}`);
    const at = pc * 8;
    const op = le ? program.readUInt16LE(at) : program.readUInt16BE(at);
    const jt = program.readUInt8(at + 2);
    const jf = program.readUInt8(at + 3);
    const k = le ? program.readUInt32LE(at + 4) : program.readUInt32BE(at + 4);
    pc++;
    switch (op) {
      case 0x20: // ld [k]
        acc = data.readUInt32LE(k);
        break;
      case 0x54: // and #k
        acc = (acc & k) >>> 0;
        break;
      case 0x05: // ja
        pc += k;
        break;
      case 0x15: // jeq #k
        pc += acc === k ? jt : jf;
        break;
      case 0x25: // jgt #k
        pc += acc > k ? jt : jf;
        break;
      case 0x35: // jge #k
        pc += acc >= k ? jt : jf;
        break;
      case 0x45: // jset #k
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case 0x06: // ret #k
        return k;
      default:
        throw new Error(`opcode 0x${op.toString(16)} at ${pc - 1} is not interpreted here`);
    }
  }
  throw new Error('no return');
}

const amd64 = (caps: readonly string[] = DEFAULT_CAPABILITIES): SeccompProfile =>
  defaultSeccompProfile({ capabilities: caps, arch: 'amd64', kernelRelease: '6.1.0' });
const onX86 = process.arch === 'x64';

describe.skipIf(!onX86)('-ENOSYS stub (as runc) in front of the compiled default profile (x86_64 host)', () => {
  const program = compileSeccomp(amd64()).program;

  it('gives ENOSYS to syscalls above every number the profile names, on x86_64, i386 and x32', () => {
    for (const nr of [1000, 0x7fff_ffff]) expect(run(program, { nr, arch: AUDIT_ARCH_X86_64 }), `x86_64 ${nr}`).toBe(RET_ERRNO_ENOSYS);
    expect(run(program, { nr: -1, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ERRNO_ENOSYS);
    expect(run(program, { nr: 1000, arch: AUDIT_ARCH_I386 })).toBe(RET_ERRNO_ENOSYS);
    expect(run(program, { nr: X32 | 1000, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ERRNO_ENOSYS);
  });

  it('leaves known syscalls to the profile: allowed ones pass, refused ones keep EPERM (io_uring_setup, keyctl)', () => {
    expect(run(program, { nr: 0, arch: AUDIT_ARCH_X86_64 })).toBe(ALLOW); // read
    expect(run(program, { nr: 3, arch: AUDIT_ARCH_I386 })).toBe(ALLOW); // i386 read
    expect(run(program, { nr: X32 | 0, arch: AUDIT_ARCH_X86_64 })).toBe(ALLOW); // x32 read
    expect(run(program, { nr: 425, arch: AUDIT_ARCH_X86_64 })).toBe(EPERM); // io_uring_setup
    expect(run(program, { nr: 426, arch: AUDIT_ARCH_X86_64 })).toBe(EPERM); // io_uring_enter
    expect(run(program, { nr: 250, arch: AUDIT_ARCH_X86_64 })).toBe(EPERM); // keyctl
    expect(run(program, { nr: 425, arch: AUDIT_ARCH_I386 })).toBe(EPERM); // i386 io_uring_setup
    expect(run(program, { nr: 435, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ERRNO_ENOSYS); // clone3: the profile's own ENOSYS rule
    // socket(AF_ALG) refused, socket(AF_INET) allowed: the argument checks still run.
    expect(run(program, { nr: 41, arch: AUDIT_ARCH_X86_64, args: [38] })).toBe(EPERM);
    expect(run(program, { nr: 41, arch: AUDIT_ARCH_X86_64, args: [2] })).toBe(ALLOW);
  });

  it('is left out when the default action lets calls through or already returns ENOSYS', () => {
    const allowAll: SeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['keyctl'], action: 'SCMP_ACT_ERRNO' }] };
    expect(run(compileSeccomp(allowAll).program, { nr: 1000, arch: AUDIT_ARCH_X86_64 })).toBe(ALLOW);
    const enosysDefault: SeccompProfile = { ...allowAll, defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    const p = compileSeccomp(enosysDefault).program;
    expect(run(p, { nr: 1000, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ERRNO_ENOSYS);
    expect(p.subarray(0, 8).readUInt16LE(0)).toBe(0x20); // libseccomp's own first instruction, no stub jump table
  });
});

describe('enosysStub', () => {
  it('is empty without sections and otherwise falls through to what follows it', () => {
    expect(enosysStub([]).length).toBe(0);
    const stub = enosysStub([{ auditArch: AUDIT_ARCH_X86_64, last: 10, lastX32: X32 | 10 }, { auditArch: AUDIT_ARCH_I386, last: 20 }]);
    const RET_MARK = 0x7fff1234;
    const mark = Buffer.alloc(8);
    mark.writeUInt16LE(0x06, 0);
    mark.writeUInt32LE(RET_MARK, 4);
    const program = Buffer.concat([stub, mark]);
    expect(run(program, { nr: 10, arch: AUDIT_ARCH_X86_64 })).toBe(RET_MARK);
    expect(run(program, { nr: 11, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ERRNO_ENOSYS);
    expect(run(program, { nr: X32 | 10, arch: AUDIT_ARCH_X86_64 })).toBe(RET_MARK);
    expect(run(program, { nr: X32 | 11, arch: AUDIT_ARCH_X86_64 })).toBe(RET_ERRNO_ENOSYS);
    expect(run(program, { nr: 20, arch: AUDIT_ARCH_I386 })).toBe(RET_MARK);
    expect(run(program, { nr: 21, arch: AUDIT_ARCH_I386 })).toBe(RET_ERRNO_ENOSYS);
    expect(run(program, { nr: 5000, arch: 0xc00000b7 })).toBe(RET_MARK); // aarch64: not in the stub, the filter decides
    // Without lastX32, x32 calls go to the filter whatever their number.
    const noX32 = Buffer.concat([enosysStub([{ auditArch: AUDIT_ARCH_X86_64, last: 10 }]), mark]);
    expect(run(noX32, { nr: X32 | 5000, arch: AUDIT_ARCH_X86_64 })).toBe(RET_MARK);
  });
});
