import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import type { ImageConfig } from '@berth/oci';
import { DEFAULT_CAPABILITIES } from '../security/capabilities.js';
import { allowedSyscalls } from '../security/seccomp.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_PATH, DEFAULT_READONLY_PATHS, buildSpec, checkRunOverrides } from './build.js';
import { mergeEnv } from './env.js';
import type { BuildSpecOptions } from './build.js';
import type { RunOverrides } from './types.js';

let dir: string;
let rootfs: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-spec-'));
  rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:root\nwheel:x:10:root,app\napp:x:1000:\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function image(config: ImageConfig['config']): ImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config };
}

const NGINX = image({
  Entrypoint: ['/docker-entrypoint.sh'],
  Cmd: ['nginx', '-g', 'daemon off;'],
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NGINX_VERSION=1.27.0'],
  WorkingDir: '',
  StopSignal: 'SIGQUIT',
});
const ALPINE = image({ Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] });

function build(img: ImageConfig, overrides: RunOverrides = {}, extra: Partial<BuildSpecOptions> = {}) {
  return buildSpec({ imageConfig: img, rootfs, overrides, hostEnv: { HOSTVAR: 'from-host' }, arch: 'amd64', hostCpus: 2, ...extra });
}

function envMap(env: string[]): Record<string, string> {
  return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

describe('buildSpec: entrypoint and cmd', () => {
  it('runs Entrypoint + Cmd', () => {
    expect(build(NGINX).process.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(build(ALPINE).process.args).toEqual(['/bin/sh']);
  });

  it('trailing args replace Cmd and keep Entrypoint', () => {
    expect(build(NGINX, { cmd: ['nginx', '-T'] }).process.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-T']);
    expect(build(ALPINE, { cmd: ['echo', 'hi'] }).process.args).toEqual(['echo', 'hi']);
    expect(build(ALPINE, { cmd: [] }).process.args).toEqual(['/bin/sh']);
  });

  it('--entrypoint replaces Entrypoint and clears the image Cmd', () => {
    expect(build(NGINX, { entrypoint: '/bin/sh' }).process.args).toEqual(['/bin/sh']);
    expect(build(NGINX, { entrypoint: '/bin/sh', cmd: ['-c', 'echo hi'] }).process.args).toEqual(['/bin/sh', '-c', 'echo hi']);
  });

  it("--entrypoint '' clears Entrypoint: only the given Cmd runs", () => {
    expect(build(NGINX, { entrypoint: '', cmd: ['ls', '/'] }).process.args).toEqual(['ls', '/']);
    expect(() => build(NGINX, { entrypoint: '' })).toThrow('run: no command specified');
    expect(() => build(image({}))).toThrow('run: no command specified');
  });
});

describe('buildSpec: environment', () => {
  it('starts with PATH and HOSTNAME, keeps the image env, adds HOME from passwd', () => {
    const spec = build(NGINX, {}, { containerId: 'f'.repeat(64) });
    expect(spec.hostname).toBe('ffffffffffff');
    expect(spec.process.env).toEqual([
      `PATH=${DEFAULT_PATH}`,
      'HOSTNAME=ffffffffffff',
      'NGINX_VERSION=1.27.0',
      'HOME=/root',
    ]);
  });

  it('PATH defaults when the image has none; the image PATH replaces it in place', () => {
    expect(build(image({ Cmd: ['x'] })).process.env[0]).toBe(`PATH=${DEFAULT_PATH}`);
    expect(build(image({ Cmd: ['x'], Env: ['PATH=/opt/bin'] })).process.env[0]).toBe('PATH=/opt/bin');
  });

  it('-e and --env-file override the image; KEY alone takes the host value or is dropped', () => {
    const envFile = path.join(dir, 'env.list');
    writeFileSync(envFile, '# comment\n\nFROM_FILE=1\nNGINX_VERSION=file\n  SPACED=kept value \nHOSTVAR\nNOT_ON_HOST\n');
    const spec = build(NGINX, { envFile: [envFile], env: ['NGINX_VERSION=cli', 'HOSTVAR', 'ABSENT', 'EMPTY=', 'EQ=a=b'], tty: true });
    expect(spec.process.env).toEqual([
      `PATH=${DEFAULT_PATH}`,
      'HOSTNAME=berth',
      'TERM=xterm',
      'NGINX_VERSION=cli',
      'FROM_FILE=1',
      'SPACED=kept value ',
      'HOSTVAR=from-host',
      'EMPTY=',
      'EQ=a=b',
      'HOME=/root',
    ]);
  });

  it('HOME follows the user and an explicit HOME wins', () => {
    expect(envMap(build(ALPINE, { user: 'app' }).process.env)['HOME']).toBe('/home/app');
    expect(envMap(build(ALPINE, { user: '4242' }).process.env)['HOME']).toBe('/');
    expect(envMap(build(ALPINE, { env: ['HOME=/custom'] }).process.env)['HOME']).toBe('/custom');
  });

  it('rejects bad variable names and unreadable env files', () => {
    expect(() => build(ALPINE, { env: ['=x'] })).toThrow('invalid --env "=x": bad variable name');
    const bad = path.join(dir, 'bad.env');
    writeFileSync(bad, 'A B=1\n');
    expect(() => build(ALPINE, { envFile: [bad] })).toThrow(`invalid --env-file ${bad}: line 1: variable 'A B' contains whitespaces`);
    expect(() => build(ALPINE, { envFile: [path.join(dir, 'missing.env')] })).toThrow(/^read --env-file .*missing\.env: ENOENT/);
  });

  it('mergeEnv replaces in place, appends new keys, removes bare keys', () => {
    expect(mergeEnv(['A=1', 'B=2', 'C=3'], ['B=x', 'D=4', 'A'])).toEqual(['B=x', 'C=3', 'D=4']);
  });
});

describe('buildSpec: workdir, user, hostname', () => {
  it('workdir: -w, then the image WorkingDir, then /', () => {
    expect(build(ALPINE).process.cwd).toBe('/');
    expect(build(image({ Cmd: ['x'], WorkingDir: '/srv/app/' })).process.cwd).toBe('/srv/app');
    expect(build(image({ Cmd: ['x'], WorkingDir: '/srv' }), { workdir: '/tmp/../work' }).process.cwd).toBe('/work');
    expect(() => build(ALPINE, { workdir: 'rel' })).toThrow('invalid --workdir "rel": the working directory must be an absolute path');
  });

  it('user: -u wins over the image User', () => {
    const img = image({ Cmd: ['x'], User: 'app' });
    expect(build(img).process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10] });
    expect(build(img, { user: '0' }).process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    expect(build(img, { user: '1:2' }).process.user).toEqual({ uid: 1, gid: 2, additionalGids: [] });
    expect(() => build(img, { user: 'nobody' })).toThrow('unable to find user nobody: no matching entries in passwd file');
  });

  it("a bad image User is named as the image's config User, not as a --user nobody passed", () => {
    const img = image({ Cmd: ['x'], User: '99999999999999999999' });
    expect(() => build(img)).toThrow(/^invalid image config User "99999999999999999999": user id 99999999999999999999 is out of range 0-2147483647$/);
    expect(() => build(image({ Cmd: ['x'], User: 'app:' }))).toThrow(/^invalid image config User "app:": empty group$/);
    expect(() => build(img, { user: '2147483648' })).toThrow(/^invalid --user "2147483648": user id 2147483648 is out of range/);
  });

  it('--group-add appends groups by name or gid, once', () => {
    expect(build(ALPINE, { user: 'app', groupAdd: ['wheel', '4000', 'root'] }).process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 4000, 0] });
    expect(build(ALPINE, { user: '5:5', groupAdd: ['app'] }).process.user).toEqual({ uid: 5, gid: 5, additionalGids: [1000] });
    expect(() => build(ALPINE, { groupAdd: ['nosuch'] })).toThrow('unable to find group nosuch: no matching entries in group file');
  });

  it('hostname: -h, validated', () => {
    expect(build(ALPINE, { hostname: 'web-1.local' }).hostname).toBe('web-1.local');
    expect(() => build(ALPINE, { hostname: 'bad host' })).toThrow(/^invalid --hostname "bad host"/);
  });

  it("hostname with --network host: the host's (as docker), unless -h", () => {
    const spec = build(ALPINE, { network: 'host' });
    expect(spec.hostname).toBe(hostname());
    expect(spec.process.env).toContain(`HOSTNAME=${hostname()}`);
    expect(build(ALPINE, { network: 'host', hostname: 'box' }).hostname).toBe('box');
  });

  it('keeps the image StopSignal', () => {
    expect(build(NGINX).stopSignal).toBe('SIGQUIT');
    expect(build(ALPINE).stopSignal).toBeUndefined();
  });
});

describe('buildSpec: security', () => {
  it("defaults: docker's 14 capabilities, default seccomp, masked and read-only paths", () => {
    const spec = build(ALPINE);
    const caps = spec.process.capabilities;
    expect(new Set(caps.bounding)).toEqual(new Set(DEFAULT_CAPABILITIES));
    expect(caps.effective).toEqual(caps.bounding);
    expect(caps.permitted).toEqual(caps.bounding);
    expect(caps.inheritable).toEqual([]);
    expect(caps.ambient).toEqual([]);
    expect(spec.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(spec.readonlyPaths).toEqual([...DEFAULT_READONLY_PATHS]);
    expect(spec.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(allowedSyscalls(spec.seccomp!).has('unshare')).toBe(false);
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.privileged).toBe(false);
    expect(spec.resources.devices).toBe('default');
  });

  it('--cap-add SYS_ADMIN also unlocks its syscalls in the default profile', () => {
    const spec = build(ALPINE, { capAdd: ['sys_admin'] });
    expect(spec.process.capabilities.bounding).toContain('CAP_SYS_ADMIN');
    expect(allowedSyscalls(spec.seccomp!).has('unshare')).toBe(true);
    expect(allowedSyscalls(spec.seccomp!).has('mount')).toBe(true);
  });

  it('--privileged: all capabilities, no seccomp, nothing masked, all devices', () => {
    const spec = build(ALPINE, { privileged: true, capDrop: ['ALL'] });
    expect(spec.process.capabilities.bounding).toHaveLength(41);
    expect(spec.seccomp).toBeNull();
    expect(spec.maskedPaths).toEqual([]);
    expect(spec.readonlyPaths).toEqual([]);
    expect(spec.privileged).toBe(true);
    expect(spec.resources.devices).toBe('all');
  });

  it('--security-opt seccomp=unconfined, no-new-privileges, systempaths=unconfined', () => {
    const spec = build(ALPINE, { securityOpt: ['seccomp=unconfined', 'no-new-privileges', 'systempaths=unconfined', 'apparmor=unconfined'] });
    expect(spec.seccomp).toBeNull();
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.maskedPaths).toEqual([]);
    expect(spec.process.capabilities.bounding).toHaveLength(14);
    expect(build(ALPINE, { securityOpt: ['no-new-privileges:true', 'no-new-privileges=false'] }).process.noNewPrivileges).toBe(false);
    expect(() => build(ALPINE, { securityOpt: ['bogus=1'] })).toThrow('invalid --security-opt "bogus=1": unknown option "bogus"');
  });

  it('--security-opt seccomp=FILE loads a docker-format profile and resolves its conditions', () => {
    const file = path.join(dir, 'profile.json');
    writeFileSync(
      file,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [
          { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
          { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
          { name: 'chroot', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
        ],
      }),
    );
    const spec = build(ALPINE, { securityOpt: [`seccomp=${file}`] });
    expect(spec.seccomp).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['chroot'], action: 'SCMP_ACT_ALLOW' },
      ],
    });
    writeFileSync(file, '{"defaultAction": "SCMP_ACT_NOPE"}');
    expect(() => build(ALPINE, { securityOpt: [`seccomp=${file}`] })).toThrow(`seccomp profile ${file}: defaultAction: unknown action "SCMP_ACT_NOPE"`);
  });
});

describe('buildSpec: resources, mounts, network, rlimits', () => {
  it('parses docker sizes, cpus and pids limits', () => {
    const spec = build(ALPINE, { memory: '512m', cpus: '0.5', pidsLimit: '100' });
    expect(spec.resources).toEqual({ memory: 512 * 2 ** 20, memorySwap: 1024 * 2 ** 20, cpus: 0.5, pidsLimit: 100, devices: 'default' });
    expect(build(ALPINE, { memory: '1g', memorySwap: '-1' }).resources).toMatchObject({ memory: 2 ** 30, memorySwap: -1 });
    expect(build(ALPINE, { memory: '1.5G', memorySwap: '2g' }).resources).toMatchObject({ memory: 1.5 * 2 ** 30, memorySwap: 2 * 2 ** 30 });
    expect(build(ALPINE, { pidsLimit: -1 }).resources.pidsLimit).toBeUndefined();
    expect(build(ALPINE).resources).toEqual({ devices: 'default' });
  });

  it('bad resource values are one-line EINVAL_ARGUMENT errors naming the flag', () => {
    const cases: Array<[RunOverrides, string]> = [
      [{ memory: 'lots' }, 'invalid --memory "lots": expected a size like 512m or 1g'],
      [{ memory: '1m' }, 'invalid --memory "1m": the minimum memory limit is 6MB'],
      [{ memorySwap: '1g' }, 'invalid --memory-swap "1g": set --memory as well'],
      [{ memory: '1g', memorySwap: '512m' }, 'invalid --memory-swap "512m": must be at least the --memory limit'],
      [{ cpus: 'two' }, 'invalid --cpus "two": expected a number like 1.5'],
      [{ cpus: '3' }, 'invalid --cpus "3": the range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available'],
      [{ cpus: '0' }, 'invalid --cpus "0": the range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available'],
      [{ pidsLimit: '1.5' }, 'invalid --pids-limit "1.5": expected an integer'],
      [{ ulimit: ['nofile=2048:1024'] }, 'invalid --ulimit "nofile=2048:1024": soft limit 2048 is above the hard limit 1024'],
      [{ ulimit: ['bogus=1'] }, 'invalid --ulimit "bogus=1": unknown limit "bogus"'],
      [{ volumes: ['data:/data'] }, 'invalid --volume "data:/data": named volumes are not supported, the host path "data" must be absolute'],
      [{ volumes: ['/data:rel'] }, 'invalid --volume "/data:rel": the container path "rel" is not absolute'],
      [{ volumes: ['/data:/'] }, 'invalid --volume "/data:/": cannot mount over the container root "/"'],
      [{ volumes: ['/data:/d:rx'] }, 'invalid --volume "/data:/d:rx": unknown option "rx"'],
      [{ tmpfs: ['/t:size=1g,foo=bar'] }, 'invalid --tmpfs "/t:size=1g,foo=bar": unsupported option "foo=bar"'],
      [{ volumes: ['/a:/x'], tmpfs: ['/x'] }, 'invalid mounts: duplicate mount point /x'],
      [{ network: 'bridge' as 'host' }, 'invalid --network "bridge": berth supports none and host'],
    ];
    for (const [overrides, message] of cases) {
      let caught: unknown;
      try {
        build(ALPINE, overrides);
      } catch (err) {
        caught = err;
      }
      expect(isBerthError(caught, 'EINVAL_ARGUMENT'), message).toBe(true);
      expect((caught as Error).message).toBe(message);
      expect((caught as Error).message).not.toContain('\n');
    }
  });

  it('volumes and tmpfs mounts', () => {
    const spec = build(ALPINE, { volumes: ['/srv/data:/data', '/etc/hosts:/h/hosts:ro'], tmpfs: ['/run', '/scratch:exec,size=64m,mode=1777'] });
    expect(spec.mounts).toEqual([
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rw'], createSource: true },
      { destination: '/h/hosts', type: 'bind', source: '/etc/hosts', options: ['rbind', 'ro'], createSource: true },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nosuid', 'nodev'] },
      { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', `size=${64 * 2 ** 20}`, 'mode=1777'] },
    ]);
  });

  it('network none adds a network namespace; host does not', () => {
    expect(build(ALPINE).namespaces).toEqual(['pid', 'mount', 'uts', 'ipc', 'network']);
    expect(build(ALPINE).network).toBe('none');
    const host = build(ALPINE, { network: 'host' });
    expect(host.network).toBe('host');
    expect(host.namespaces).toEqual(['pid', 'mount', 'uts', 'ipc']);
  });

  it('rlimits from --ulimit (the last one per name wins), read-only, init, rootfs', () => {
    const spec = build(ALPINE, { ulimit: ['nofile=1024:2048', 'core=0', 'nofile=512'], readOnly: true, init: true });
    expect(spec.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 512, hard: 512 },
      { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
    ]);
    expect(spec.readonlyRootfs).toBe(true);
    expect(spec.init).toBe(true);
    expect(spec.rootfs).toBe(rootfs);
    expect(build(ALPINE, { ulimit: ['stack=-1'] }).process.rlimits).toEqual([{ type: 'RLIMIT_STACK', soft: -1, hard: -1 }]);
  });

  it('the spec is plain JSON', () => {
    const spec = build(NGINX, { memory: '64m', capAdd: ['NET_ADMIN'], volumes: ['/a:/b'] });
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });
});

describe('checkRunOverrides: the flags that need no image, checked before a pull', () => {
  const bad: Array<[RunOverrides, RegExp]> = [
    [{ memory: 'lots' }, /--memory/],
    [{ cpus: '0' }, /--cpus/],
    [{ capAdd: ['NOPE'] }, /NOPE/],
    [{ securityOpt: ['bogus=1'] }, /^invalid --security-opt "bogus=1"/],
    [{ network: 'bridge' as RunOverrides['network'] }, /^invalid --network "bridge"/],
    [{ volumes: ['relative:/x'] }, /-v|--volume/],
    [{ ulimit: ['nosuch=1'] }, /ulimit/],
    [{ hostname: 'bad host' }, /^invalid --hostname "bad host"/],
    [{ envFile: ['/nonexistent/env'] }, /^read --env-file \/nonexistent\/env: ENOENT: no such file or directory/],
  ];

  it.each(bad)('refuses %j with the error buildSpec gives', (overrides, message) => {
    let caught: unknown;
    try {
      checkRunOverrides(overrides, { arch: 'amd64', hostCpus: 2 });
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'EINVAL_ARGUMENT'), String(caught)).toBe(true);
    expect((caught as Error).message).toMatch(message);
    expect(() => build(ALPINE, overrides)).toThrow((caught as Error).message);
  });

  it('accepts good flags, and leaves image-dependent ones (user, workdir) to buildSpec', () => {
    expect(() =>
      checkRunOverrides(
        { memory: '64m', cpus: '1.5', capAdd: ['NET_ADMIN'], volumes: ['/a:/b:ro'], ulimit: ['nofile=1024'], network: 'host', hostname: 'box', user: 'nosuch' },
        { arch: 'amd64', hostCpus: 2 },
      ),
    ).not.toThrow();
  });
});

