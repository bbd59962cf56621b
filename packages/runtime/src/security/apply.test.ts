import { describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { RecordingSyscalls } from '@berth/sys';
import type { ContainerSpec, RlimitSpec } from '../spec/types.js';
import { applyProcessSecurity } from './apply.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capMask, fullMask } from './capabilities.js';
import { compileSeccomp } from './libseccomp.js';
import { applyRlimits, clampRlimit, parseUlimit } from './rlimits.js';
import { defaultSeccompProfile } from './seccomp.js';
import {
  PR_CAPBSET_DROP,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  RLIM_INFINITY,
} from '@berth/sys';

type SecuritySpec = Pick<ContainerSpec, 'process' | 'seccomp' | 'privileged'>;

const DEFAULT_MASK = capMask(DEFAULT_CAPABILITIES);
const PROFILE = defaultSeccompProfile({ capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernelRelease: '6.1' });

function spec(over: {
  uid?: number;
  gid?: number;
  groups?: number[];
  caps?: readonly string[];
  ambient?: string[];
  nnp?: boolean;
  seccomp?: boolean;
  privileged?: boolean;
  rlimits?: RlimitSpec[];
} = {}): SecuritySpec {
  const caps = [...(over.caps ?? DEFAULT_CAPABILITIES)];
  return {
    privileged: over.privileged ?? false,
    seccomp: over.seccomp === false ? null : PROFILE,
    process: {
      args: ['/bin/true'],
      env: [],
      cwd: '/',
      user: { uid: over.uid ?? 0, gid: over.gid ?? 0, additionalGids: over.groups ?? [] },
      terminal: false,
      noNewPrivileges: over.nnp ?? false,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: over.ambient ?? [], ambient: over.ambient ?? [] },
      rlimits: over.rlimits ?? [],
    },
  };
}

/** The calls with the bounding-set drops folded into one entry, for readable order assertions. */
function sequence(sys: RecordingSyscalls): string[] {
  const out: string[] = [];
  for (const c of sys.calls) {
    let label = c.name;
    if (c.name === 'prctl') {
      const [opt, arg2] = c.args as number[];
      label =
        opt === PR_CAPBSET_DROP ? 'capbset_drop'
        : opt === PR_SET_KEEPCAPS ? `keepcaps=${arg2}`
        : opt === PR_SET_NO_NEW_PRIVS ? 'no_new_privs'
        : opt === PR_CAP_AMBIENT ? (arg2 === PR_CAP_AMBIENT_CLEAR_ALL ? 'ambient_clear' : 'ambient_raise')
        : `prctl(${opt})`;
    }
    if (out[out.length - 1] !== label || label !== 'capbset_drop') out.push(label);
  }
  return out;
}

function dropped(sys: RecordingSyscalls): number[] {
  return sys.callsOf('prctl').filter((a) => a[0] === PR_CAPBSET_DROP).map((a) => a[1] as number);
}

describe('applyProcessSecurity: order and arguments (RecordingSyscalls)', () => {
  it('root, default caps, default seccomp: seccomp before dropping CAP_SYS_ADMIN, no keepcaps', () => {
    const sys = new RecordingSyscalls();
    const r = applyProcessSecurity(sys, spec(), { lastCap: 40 });
    expect(sequence(sys)).toEqual(['capget', 'seccompSetFilter', 'capbset_drop', 'setgroups', 'setresgid', 'setresuid', 'capset', 'ambient_clear']);
    expect(r.seccomp).toBe('before-credentials');
    expect(dropped(sys)).toEqual([...Array(41).keys()].filter((n) => ((DEFAULT_MASK >> BigInt(n)) & 1n) === 0n));
    expect(dropped(sys)).toHaveLength(41 - 14);
    expect(sys.callsOf('capset')).toEqual([[{ effective: DEFAULT_MASK, permitted: DEFAULT_MASK, inheritable: 0n }]]);
    expect(sys.callsOf('setgroups')).toEqual([[[]]]);
    expect(sys.callsOf('setresuid')).toEqual([[0, 0, 0]]);
    expect(sys.callsOf('seccompSetFilter')).toEqual([[compileSeccomp(PROFILE).program.length]]);
  });

  it('non-root with no-new-privileges: keepcaps around the uid change, seccomp last', () => {
    const sys = new RecordingSyscalls();
    const r = applyProcessSecurity(sys, spec({ uid: 1000, gid: 1000, groups: [10, 27], nnp: true }), { lastCap: 40 });
    expect(sequence(sys)).toEqual([
      'capget',
      'no_new_privs',
      'capbset_drop',
      'keepcaps=1',
      'setgroups',
      'setresgid',
      'setresuid',
      'keepcaps=0',
      'capset',
      'ambient_clear',
      'seccompSetFilter',
    ]);
    expect(r.seccomp).toBe('last');
    expect(sys.callsOf('setgroups')).toEqual([[[10, 27]]]);
    expect(sys.callsOf('setresgid')).toEqual([[1000, 1000, 1000]]);
    expect(sys.callsOf('setresuid')).toEqual([[1000, 1000, 1000]]);
  });

  it('rlimits come first; no seccomp call when unconfined', () => {
    const sys = new RecordingSyscalls({ rlimits: { 7: { soft: 1024n, hard: 4096n } } });
    applyProcessSecurity(sys, spec({ seccomp: false, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }] }), { lastCap: 40 });
    expect(sequence(sys)).toEqual(['capget', 'getrlimit', 'setrlimit', 'capbset_drop', 'setgroups', 'setresgid', 'setresuid', 'capset', 'ambient_clear']);
    expect(sys.callsOf('setrlimit')).toEqual([[7, { soft: 100n, hard: 200n }]]);
  });

  it('uses a precompiled program when given', () => {
    const sys = new RecordingSyscalls();
    applyProcessSecurity(sys, spec(), { lastCap: 40, seccompProgram: new Uint8Array(16) });
    expect(sys.callsOf('seccompSetFilter')).toEqual([[16]]);
  });

  it('raises requested ambient capabilities after clearing the set', () => {
    const sys = new RecordingSyscalls();
    applyProcessSecurity(sys, spec({ uid: 1000, ambient: ['CAP_NET_BIND_SERVICE'], seccomp: false }), { lastCap: 40 });
    const ambient = sys.callsOf('prctl').filter((a) => a[0] === PR_CAP_AMBIENT);
    expect(ambient).toEqual([
      [PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0],
      [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 10, 0, 0],
    ]);
  });

  it("leaves out capabilities the kernel does not know (cap_last_cap)", () => {
    const sys = new RecordingSyscalls();
    applyProcessSecurity(sys, spec({ privileged: true, caps: [...ALL_CAPABILITIES], seccomp: false }), { lastCap: 37 });
    expect(dropped(sys)).toEqual([]);
    expect(sys.callsOf('capset')).toEqual([[{ effective: fullMask(37), permitted: fullMask(37), inheritable: 0n }]]);
  });

  it('privileged gets what the runtime has; unprivileged asking for more fails before changing anything', () => {
    const noSysResource = fullMask(40) & ~(1n << 24n);
    const runtimeCaps = { effective: noSysResource, permitted: noSysResource, inheritable: 0n };
    const all = [...ALL_CAPABILITIES];

    const sys = new RecordingSyscalls({ capabilities: runtimeCaps });
    applyProcessSecurity(sys, spec({ privileged: true, caps: all, seccomp: false }), { lastCap: 40 });
    expect(dropped(sys)).toEqual([24]);
    expect(sys.callsOf('capset')).toEqual([[{ effective: noSysResource, permitted: noSysResource, inheritable: 0n }]]);

    const sys2 = new RecordingSyscalls({ capabilities: runtimeCaps });
    let caught: unknown;
    try {
      applyProcessSecurity(sys2, spec({ caps: [...DEFAULT_CAPABILITIES, 'CAP_SYS_RESOURCE'] }), { lastCap: 40 });
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'ERUNTIME')).toBe(true);
    expect((caught as Error).message).toBe('apply capabilities: CAP_SYS_RESOURCE not available to the runtime');
    expect(sys2.names()).toEqual(['capget']);
  });

  it('a failing syscall surfaces as a one-line ESYSCALL error', () => {
    const sys = new RecordingSyscalls({ failures: [{ call: 'capset', errno: 'EPERM' }] });
    expect(() => applyProcessSecurity(sys, spec({ seccomp: false }), { lastCap: 40 })).toThrow('capset: EPERM');
  });
});

describe('rlimits', () => {
  it('parses docker --ulimit values', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 });
    expect(parseUlimit('NPROC=50')).toEqual({ type: 'RLIMIT_NPROC', soft: 50, hard: 50 });
    expect(parseUlimit('core=-1')).toEqual({ type: 'RLIMIT_CORE', soft: -1, hard: -1 });
    expect(parseUlimit('memlock=1024:-1')).toEqual({ type: 'RLIMIT_MEMLOCK', soft: 1024, hard: -1 });
    expect(() => parseUlimit('nofile')).toThrow('invalid --ulimit "nofile": expected name=soft[:hard]');
    expect(() => parseUlimit('nofile=a')).toThrow('invalid --ulimit "nofile=a": "a" is not an integer');
    expect(() => parseUlimit('nofile=-1:10')).toThrow('soft limit -1 is above the hard limit 10');
  });

  it('never raises the hard limit and keeps soft <= hard', () => {
    const current = { soft: 1024n, hard: 4096n };
    expect(clampRlimit({ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }, current)).toEqual({ soft: 100n, hard: 200n });
    expect(clampRlimit({ type: 'RLIMIT_NOFILE', soft: 8192, hard: 8192 }, current)).toEqual({ soft: 4096n, hard: 4096n });
    expect(clampRlimit({ type: 'RLIMIT_NOFILE', soft: 2048, hard: -1 }, current)).toEqual({ soft: 2048n, hard: 4096n });
    expect(clampRlimit({ type: 'RLIMIT_CORE', soft: -1, hard: -1 }, { soft: 0n, hard: RLIM_INFINITY })).toEqual({ soft: RLIM_INFINITY, hard: RLIM_INFINITY });
  });

  it('applies each limit after reading the current one', () => {
    const sys = new RecordingSyscalls({ rlimits: { 6: { soft: 100n, hard: 100n } } });
    const applied = applyRlimits(sys, [{ type: 'RLIMIT_NPROC', soft: 500, hard: 500 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }]);
    expect(applied).toEqual([
      { type: 'RLIMIT_NPROC', soft: 100n, hard: 100n },
      { type: 'RLIMIT_CORE', soft: 0n, hard: 0n },
    ]);
    expect(sys.names()).toEqual(['getrlimit', 'setrlimit', 'getrlimit', 'setrlimit']);
    expect(() => applyRlimits(sys, [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }])).toThrow('set rlimits: unknown limit RLIMIT_BOGUS');
  });
});
