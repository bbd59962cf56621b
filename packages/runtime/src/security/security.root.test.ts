import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec, RlimitSpec } from '../spec/types.js';
import { DEFAULT_CAPABILITIES, capMask } from './capabilities.js';
import { defaultSeccompProfile } from './seccomp.js';
import type { SeccompProfile } from './seccomp-types.js';

/*
 * The real thing, as root: each scenario runs in a node process of its own
 * (security settings cannot be undone, and seccomp/capabilities apply to the
 * thread that sets them), which applies a spec with the real LibcSyscalls via
 * applyProcessSecurity (what the init does before execve), then reports what
 * the kernel says. See testdata/probe.mjs.
 */

const isRoot = process.getuid?.() === 0;
const probeScript = fileURLToPath(new URL('./testdata/probe.mjs', import.meta.url));
const register = fileURLToPath(new URL('./testdata/register-ts.mjs', import.meta.url));
const run = promisify(execFile);

interface ProbeResult {
  applied?: { seccomp: string };
  error?: string;
  status: Record<string, string>;
  nofile: { soft: string; hard: string };
  getpid: { ok: boolean; errno?: string };
  unshareUts: { ok: boolean; errno?: string };
  keyctl: { ok: boolean; errno?: string };
  personalityQuery: { ok: boolean; errno?: string };
  personalityBsd: { ok: boolean; errno?: string };
  spawnTrue: number | null;
}

type SecuritySpec = Pick<ContainerSpec, 'process' | 'seccomp' | 'privileged'>;

function spec(o: { uid?: number; gid?: number; groups?: number[]; caps?: readonly string[]; seccomp: SeccompProfile | null; nnp?: boolean; rlimits?: RlimitSpec[] }): SecuritySpec {
  const caps = [...(o.caps ?? DEFAULT_CAPABILITIES)];
  return {
    privileged: false,
    seccomp: o.seccomp,
    process: {
      args: ['/bin/true'],
      env: [],
      cwd: '/',
      user: { uid: o.uid ?? 0, gid: o.gid ?? 0, additionalGids: o.groups ?? [] },
      terminal: false,
      noNewPrivileges: o.nnp ?? false,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: o.rlimits ?? [],
    },
  };
}

async function probe(s: SecuritySpec): Promise<ProbeResult> {
  const { stdout } = await run(process.execPath, ['--import', register, probeScript, JSON.stringify({ spec: s })], {
    timeout: 120_000,
    maxBuffer: 1 << 20,
  });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ProbeResult;
}

const hex = (mask: bigint): string => mask.toString(16).padStart(16, '0');
const DEFAULT_MASK = capMask(DEFAULT_CAPABILITIES);
const WITH_ADMIN = [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'];
const profileFor = (caps: readonly string[]): SeccompProfile => defaultSeccompProfile({ capabilities: caps });

describe.skipIf(!isRoot)('applyProcessSecurity for real (root, a process per scenario)', () => {
  const results: Record<string, ProbeResult> = {};

  beforeAll(async () => {
    const scenarios: Record<string, SecuritySpec> = {
      // docker run alpine
      dockerDefault: spec({ seccomp: profileFor(DEFAULT_CAPABILITIES) }),
      // CAP_SYS_ADMIN held, but a filter made for the default set: seccomp alone refuses unshare
      adminFilteredAsDefault: spec({ caps: WITH_ADMIN, seccomp: profileFor(DEFAULT_CAPABILITIES) }),
      // --cap-add SYS_ADMIN: the default profile for those caps allows unshare
      adminAdded: spec({ caps: WITH_ADMIN, seccomp: profileFor(WITH_ADMIN) }),
      // --cap-add SYS_ADMIN --security-opt seccomp=unconfined
      adminUnconfined: spec({ caps: WITH_ADMIN, seccomp: null }),
      // -u 1000:1000 --group-add 10 --security-opt no-new-privileges --ulimit nofile=100:200
      userNnp: spec({
        uid: 1000,
        gid: 1000,
        groups: [10],
        nnp: true,
        seccomp: profileFor(DEFAULT_CAPABILITIES),
        rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }],
      }),
    };
    const entries = await Promise.all(Object.entries(scenarios).map(async ([name, s]) => [name, await probe(s)] as const));
    for (const [name, r] of entries) results[name] = r;
  }, 300_000);

  it("docker's default: its capability mask, a filter, and EPERM for unshare and keyctl while getpid works", () => {
    const r = results['dockerDefault']!;
    expect(r.error).toBeUndefined();
    expect(r.applied?.seccomp).toBe('before-credentials');
    expect(r.status['CapBnd']).toBe(hex(DEFAULT_MASK));
    expect(r.status['CapEff']).toBe('00000000a80425fb');
    expect(r.status['CapPrm']).toBe('00000000a80425fb');
    expect(r.status['CapInh']).toBe('0000000000000000');
    expect(r.status['CapAmb']).toBe('0000000000000000');
    expect(r.status['Seccomp']).toBe('2');
    expect(r.status['NoNewPrivs']).toBe('0');
    expect(r.getpid.ok).toBe(true);
    expect(r.unshareUts).toEqual({ ok: false, errno: 'EPERM' });
    expect(r.keyctl).toEqual({ ok: false, errno: 'EPERM' });
    expect(r.personalityQuery.ok).toBe(true);
    expect(r.personalityBsd).toEqual({ ok: false, errno: 'EPERM' });
    // fork/exec still works: clone3 gets ENOSYS, libc falls back to clone without namespace flags.
    expect(r.spawnTrue).toBe(0);
  });

  it('the filter, not the capability, is what refuses unshare', () => {
    const filtered = results['adminFilteredAsDefault']!;
    expect(filtered.status['CapEff']).toBe(hex(capMask(WITH_ADMIN)));
    expect(filtered.unshareUts).toEqual({ ok: false, errno: 'EPERM' });
    expect(filtered.keyctl).toEqual({ ok: false, errno: 'EPERM' });

    const added = results['adminAdded']!;
    expect(added.unshareUts.ok).toBe(true);
    expect(added.keyctl).toEqual({ ok: false, errno: 'EPERM' });
    expect(added.spawnTrue).toBe(0);
  });

  it('seccomp=unconfined lifts it: no filter, keyctl and unshare work', () => {
    const r = results['adminUnconfined']!;
    expect(r.applied?.seccomp).toBe('none');
    expect(r.status['Seccomp']).toBe('0');
    expect(r.unshareUts.ok).toBe(true);
    expect(r.keyctl.ok).toBe(true);
    expect(r.personalityBsd.ok).toBe(true);
  });

  it('a non-root user with no-new-privileges: ids, groups, caps, rlimit, filter loaded last', () => {
    const r = results['userNnp']!;
    expect(r.error).toBeUndefined();
    expect(r.applied?.seccomp).toBe('last');
    expect(r.status['Uid']).toBe('1000\t1000\t1000\t1000');
    expect(r.status['Gid']).toBe('1000\t1000\t1000\t1000');
    expect(r.status['Groups']).toBe('10');
    expect(r.status['NoNewPrivs']).toBe('1');
    expect(r.status['Seccomp']).toBe('2');
    expect(r.status['CapBnd']).toBe(hex(DEFAULT_MASK));
    expect(r.status['CapEff']).toBe(hex(DEFAULT_MASK));
    expect(r.nofile).toEqual({ soft: '100', hard: '200' });
    expect(r.keyctl).toEqual({ ok: false, errno: 'EPERM' });
    expect(r.spawnTrue).toBe(0);
  });
});

describe.skipIf(isRoot)('applyProcessSecurity for real', () => {
  it.skip('needs root: run the tests as root to apply capabilities, credentials and seccomp for real', () => {});
});
