import { describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import { compileSeccomp } from './libseccomp.js';
import {
  allowedSyscalls,
  defaultSeccompProfile,
  goArch,
  kernelAtLeast,
  parseDockerSeccompProfile,
  resolveSeccompProfile,
} from './seccomp.js';
import { CLONE_NAMESPACE_FLAGS, dockerDefaultProfile } from './seccomp-default.js';
import type { SeccompProfile } from './seccomp-types.js';

const KERNEL = '6.1.0-13-amd64';
const amd64 = (caps: readonly string[] = DEFAULT_CAPABILITIES): SeccompProfile =>
  defaultSeccompProfile({ capabilities: caps, arch: 'amd64', kernelRelease: KERNEL });

function rulesFor(profile: SeccompProfile, name: string) {
  return profile.syscalls.filter((r) => r.names.includes(name));
}

describe('default seccomp profile (docker)', () => {
  it('is an allow-list with EPERM as the default, for x86_64 and its 32-bit ABIs', () => {
    const p = amd64();
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const allowed = allowedSyscalls(p);
    for (const name of ['read', 'write', 'openat', 'execve', 'getpid', 'exit_group', 'rt_sigreturn', 'close_range', 'capset', 'setresuid', 'prctl', 'arch_prctl']) {
      expect(allowed.has(name), name).toBe(true);
    }
  });

  it('denies what needs a capability the container lacks', () => {
    const allowed = allowedSyscalls(amd64());
    for (const name of ['unshare', 'mount', 'umount2', 'setns', 'pivot_root', 'keyctl', 'add_key', 'bpf', 'reboot', 'init_module', 'kexec_load', 'open_by_handle_at', 'kcmp', 'iopl', 'settimeofday', 'acct', 'swapon', 'userfaultfd', 'sethostname']) {
      expect(allowed.has(name), name).toBe(false);
    }
  });

  it('allows clone only without namespace flags, and clone3 fails with ENOSYS', () => {
    const p = amd64();
    expect(rulesFor(p, 'clone')).toEqual([
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    expect(CLONE_NAMESPACE_FLAGS).toBe(0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000);
    expect(rulesFor(p, 'clone3')).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  });

  it('allows personality only with the harmless values and socket except AF_ALG and AF_VSOCK', () => {
    const p = amd64();
    expect(rulesFor(p, 'personality').map((r) => r.args?.[0]?.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
    // Three ORed conditions on the family: < AF_ALG (38), == AF_NFC (39), > AF_VSOCK (40).
    expect(rulesFor(p, 'socket')).toEqual([
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }] },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }] },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }] },
    ]);
  });

  it('does not allow io_uring (docker >= 25), with any capability', () => {
    const everything = [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_NICE', 'CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_RAWIO'];
    for (const [arch, caps] of [['amd64', DEFAULT_CAPABILITIES], ['arm64', DEFAULT_CAPABILITIES], ['amd64', everything]] as const) {
      const p = defaultSeccompProfile({ capabilities: caps, arch, kernelRelease: KERNEL });
      for (const name of ['io_uring_setup', 'io_uring_enter', 'io_uring_register']) {
        expect(rulesFor(p, name), `${name} on ${arch}`).toEqual([]);
      }
    }
  });

  it("follows moby's later additions: new syscalls allowed, lsm_* only with CAP_SYS_ADMIN", () => {
    const allowed = allowedSyscalls(amd64());
    for (const name of ['fchmodat2', 'cachestat', 'futex_wait', 'futex_wake', 'futex_requeue', 'map_shadow_stack', 'mseal', 'statmount', 'listmount', 'getxattrat', 'setxattrat', 'listxattrat', 'removexattrat', 'uretprobe']) {
      expect(allowed.has(name), name).toBe(true);
    }
    for (const name of ['lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules']) {
      expect(allowed.has(name), name).toBe(false);
      expect(allowedSyscalls(amd64([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'])).has(name), `${name} with CAP_SYS_ADMIN`).toBe(true);
    }
  });

  it('CAP_SYS_ADMIN unlocks mount/unshare/setns and unconditional clone/clone3', () => {
    const p = amd64([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    const allowed = allowedSyscalls(p);
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'sethostname', 'clone', 'clone3', 'bpf']) expect(allowed.has(name), name).toBe(true);
    expect(rulesFor(p, 'clone')).toEqual([expect.objectContaining({ action: 'SCMP_ACT_ALLOW' })]);
    expect(rulesFor(p, 'clone')[0]?.args).toBeUndefined();
    expect(rulesFor(p, 'clone3').every((r) => r.action === 'SCMP_ACT_ALLOW')).toBe(true);
    expect(allowed.has('keyctl')).toBe(false);
  });

  it('other capabilities unlock their own syscalls', () => {
    const cases: Array<[string, string]> = [
      ['CAP_SYS_PTRACE', 'kcmp'],
      ['CAP_SYS_BOOT', 'reboot'],
      ['CAP_SYS_MODULE', 'finit_module'],
      ['CAP_SYS_TIME', 'settimeofday'],
      ['CAP_SYS_NICE', 'mbind'],
      ['CAP_DAC_READ_SEARCH', 'open_by_handle_at'],
      ['CAP_BPF', 'bpf'],
      ['CAP_PERFMON', 'perf_event_open'],
    ];
    for (const [cap, name] of cases) {
      expect(allowedSyscalls(amd64()).has(name), `${name} without ${cap}`).toBe(false);
      expect(allowedSyscalls(amd64([...DEFAULT_CAPABILITIES, cap])).has(name), `${name} with ${cap}`).toBe(true);
    }
    // CAP_SYS_CHROOT is a default capability, so chroot is allowed by default.
    expect(allowedSyscalls(amd64()).has('chroot')).toBe(true);
  });

  it('ptrace and process_vm_* need kernel 4.8 (or CAP_SYS_PTRACE)', () => {
    expect(allowedSyscalls(amd64()).has('ptrace')).toBe(true);
    const old = defaultSeccompProfile({ capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernelRelease: '4.4.0' });
    expect(allowedSyscalls(old).has('ptrace')).toBe(false);
    expect(kernelAtLeast('4.8.0', '4.8')).toBe(true);
    expect(kernelAtLeast('4.19.2', '4.8')).toBe(true);
    expect(kernelAtLeast('4.7.10', '4.8')).toBe(false);
    expect(kernelAtLeast('10.0', '4.8')).toBe(true);
  });

  it('has the arm64 architectures and arm-only syscalls there', () => {
    const arm = defaultSeccompProfile({ capabilities: DEFAULT_CAPABILITIES, arch: 'arm64', kernelRelease: KERNEL });
    expect(arm.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    const allowed = allowedSyscalls(arm);
    expect(allowed.has('arm_fadvise64_64')).toBe(true);
    expect(allowed.has('arch_prctl')).toBe(false);
    expect(allowed.has('modify_ldt')).toBe(false);
    expect(allowedSyscalls(amd64()).has('arm_fadvise64_64')).toBe(false);
  });

  it('maps Node architectures to GOARCH', () => {
    expect(goArch('x64')).toBe('amd64');
    expect(goArch('arm64')).toBe('arm64');
    expect(() => defaultSeccompProfile({ capabilities: [], arch: 'sparc' })).toThrow('seccomp: architecture sparc is not supported');
  });
});

describe('docker-format profiles', () => {
  it('resolves includes/excludes and name/names', () => {
    const p = resolveSeccompProfile(
      {
        defaultAction: 'SCMP_ACT_KILL_PROCESS',
        syscalls: [
          { name: 'read', action: 'SCMP_ACT_ALLOW' },
          { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'] } },
          { names: ['write'], action: 'SCMP_ACT_LOG', excludes: { arches: ['amd64'] } },
          { names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { minKernel: '99.0' } },
        ],
      },
      { capabilities: ['CAP_SYS_ADMIN'], arch: 'amd64', kernelRelease: KERNEL },
    );
    expect(p).toEqual({
      defaultAction: 'SCMP_ACT_KILL_PROCESS',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ],
    });
  });

  it('rejects malformed profiles with one-line errors naming the field', () => {
    const cases: Array<[string, string]> = [
      ['{', 'p: invalid JSON'],
      ['[]', 'p: (root): expected an object'],
      ['{"defaultAction": 5}', 'p: defaultAction: expected a string'],
      ['{"defaultAction": "SCMP_ACT_NOTIFY"}', 'p: defaultAction: SCMP_ACT_NOTIFY is not supported'],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": -1}', 'p: defaultErrnoRet: expected an errno 0..4095'],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}', 'p: syscalls[0]: no syscall names'],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}', "p: syscalls[0]: use either 'name' or 'names', not both"],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', 'p: syscalls[0].args[0].index: expected 0..5'],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}', 'p: syscalls[0].args[0].op: unknown operator "SCMP_CMP_LIKE"'],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}', 'p: syscalls[0].args[0].value: out of the u64 range'],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}', "p: architectures: 'architectures' and 'archMap' cannot both be given"],
      ['{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}', 'p: listenerPath: seccomp notify listeners are not supported'],
    ];
    for (const [text, message] of cases) {
      let caught: unknown;
      try {
        parseDockerSeccompProfile(text, 'p');
      } catch (err) {
        caught = err;
      }
      expect(isBerthError(caught, 'EINVAL_ARGUMENT'), text).toBe(true);
      expect((caught as Error).message.startsWith(message), `${(caught as Error).message} / ${message}`).toBe(true);
      expect((caught as Error).message).not.toContain('\n');
    }
  });

  it("round-trips docker's own default profile through the JSON parser", () => {
    const parsed = parseDockerSeccompProfile(JSON.stringify(dockerDefaultProfile()));
    expect(resolveSeccompProfile(parsed, { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernelRelease: KERNEL })).toEqual(amd64());
  });
});

describe('compileSeccomp (libseccomp)', () => {
  it('compiles the default profile to a BPF program within the kernel limit, cached', () => {
    const profile = amd64();
    const compiled = compileSeccomp(profile);
    expect(compiled.program.length % 8).toBe(0);
    expect(compiled.program.length / 8).toBeGreaterThan(100);
    expect(compiled.program.length / 8).toBeLessThanOrEqual(4096);
    // Only syscalls newer than this libseccomp may be unknown (libseccomp 2.5.4
    // predates fchmodat2 and later); runc skips them the same way.
    const newerThanLibseccomp254 = ['cachestat', 'fchmodat2', 'futex_requeue', 'futex_wait', 'futex_wake', 'getxattrat', 'listmount', 'listxattrat', 'map_shadow_stack', 'mseal', 'removexattrat', 'riscv_hwprobe', 'setxattrat', 'statmount', 'uretprobe'];
    for (const name of compiled.unknownSyscalls) expect(newerThanLibseccomp254, name).toContain(name);
    expect(compileSeccomp(structuredClone(profile))).toBe(compiled);
  });

  it('gives a different program when a capability unlocks more syscalls', () => {
    const a = compileSeccomp(amd64()).program;
    const b = compileSeccomp(amd64([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'])).program;
    expect(Buffer.compare(a, b)).not.toBe(0);
  });

  it('skips names no architecture knows (as runc) and reports them', () => {
    const p: SeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'not_a_syscall'], action: 'SCMP_ACT_ALLOW' },
        { names: ['write'], action: 'SCMP_ACT_ERRNO' }, // same as the default action: skipped
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
        { names: ['mmap'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 4, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }, { index: 3, value: '18446744073709551615', op: 'SCMP_CMP_NE' }] },
      ],
    };
    expect(compileSeccomp(p).unknownSyscalls).toEqual(['not_a_syscall']);
  });

  it('refuses an unknown architecture', () => {
    const p: SeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_VAX'], syscalls: [] };
    expect(() => compileSeccomp(p)).toThrow('seccomp: unknown architecture SCMP_ARCH_VAX');
  });
});
