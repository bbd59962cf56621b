/**
 * Security and resources end to end, as root: real alpine containers through
 * the runtime, checked the way one checks docker (`grep Cap /proc/self/status`,
 * `ulimit`, an OOM, a device node). Uses the runtime core's fixtures.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../runtime.js';
import { newContainerId } from '../lifecycle/state.js';
import type { RunOverrides } from '../spec/types.js';
import { containerFixture, e2eUnavailable, haveTool, specFor } from '../test-support/fixtures.js';
import type { ContainerFixture, UnpackedImage } from '../test-support/fixtures.js';
import { DEFAULT_CAPABILITIES, capMask, fullMask } from './capabilities.js';

const unavailable = e2eUnavailable();
if (unavailable) console.warn(`skipping security end-to-end tests: ${unavailable}`);

/** What this host's runtime itself holds (a privileged container gets exactly that). */
function hostCapBnd(): string {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapBnd:'));
  return (line ?? '').split(/\s+/)[1] ?? '';
}

/**
 * Calls io_uring_setup(4, &params) and says what it got ("io_uring_setup: fd"
 * or "io_uring_setup: errno N"), then syscall 1000, a number no kernel has yet
 * ("syscall 1000: errno N").
 */
const IO_URING_PROBE = `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  unsigned char params[120]; /* struct io_uring_params */
  memset(params, 0, sizeof params);
  long fd = syscall(SYS_io_uring_setup, 4, params);
  if (fd >= 0) printf("io_uring_setup: fd\\n");
  else printf("io_uring_setup: errno %d\\n", errno);
  long r = syscall(1000);
  printf("syscall 1000: %s %d\\n", r < 0 ? "errno" : "returned", r < 0 ? errno : (int)r);
  return 0;
}
`;
const haveGcc = haveTool('gcc');
if (!haveGcc) console.warn('skipping the io_uring seccomp test: gcc is not installed (apt-get install gcc libc6-dev)');

describe.skipIf(unavailable !== undefined)('container security end to end (alpine)', () => {
  let fx: ContainerFixture;
  let alpine: UnpackedImage;
  let root: string;
  let runtime: Runtime;

  beforeAll(() => {
    fx = containerFixture('alpine', 'security');
    ({ image: alpine, runtime } = fx);
    root = fx.rootfs();
  });
  afterAll(() => fx?.cleanup());

  async function sh(script: string, overrides: RunOverrides = {}) {
    const id = newContainerId();
    const spec = specFor(alpine, root, { ...overrides, cmd: ['sh', '-c', script] }, id);
    const r = await runtime.run({ id, rootfs: root, spec, stdio: 'pipe', remove: true });
    return { ...r, out: r.stdout?.toString() ?? '', err: r.stderr?.toString() ?? '' };
  }

  function status(out: string): Record<string, string> {
    const s: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const m = /^(\w+):\s*(.*)$/.exec(line);
      if (m) s[m[1] as string] = (m[2] as string).trim();
    }
    return s;
  }

  const STATUS = 'grep -E "^(Cap|NoNewPrivs|Seccomp:)" /proc/self/status';

  it("runs with docker's capabilities and default seccomp profile; unshare is refused", async () => {
    const r = await sh(`${STATUS}; id; unshare -u true 2>/dev/null && echo unshare-ok || echo unshare-denied`);
    expect(r.exitCode).toBe(0);
    const s = status(r.out);
    expect(s).toMatchObject({ CapBnd: '00000000a80425fb', CapEff: '00000000a80425fb', CapPrm: '00000000a80425fb', CapInh: '0000000000000000', CapAmb: '0000000000000000', NoNewPrivs: '0', Seccomp: '2' });
    expect(r.out).toContain('uid=0(root) gid=0(root) groups=0(root),1(bin),2(daemon),3(sys),4(adm),6(disk),10(wheel),11(floppy),20(dialout),26(tape),27(video)');
    expect(r.out).toContain('unshare-denied');
  });

  it('a non-root user keeps only the bounding set', async () => {
    const r = await sh(STATUS, { user: 'nobody' });
    expect(status(r.out)).toMatchObject({ CapBnd: '00000000a80425fb', CapEff: '0000000000000000', CapPrm: '0000000000000000' });
  });

  it('--cap-add SYS_ADMIN also opens the seccomp profile; --cap-drop ALL --cap-add CHOWN leaves one', async () => {
    const admin = await sh(`${STATUS}; unshare -u true && echo unshare-ok`, { capAdd: ['SYS_ADMIN'] });
    expect(status(admin.out)['CapEff']).toBe(capMask([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']).toString(16).padStart(16, '0'));
    expect(admin.out).toContain('unshare-ok');
    const one = await sh(STATUS, { capDrop: ['ALL'], capAdd: ['chown'] });
    expect(status(one.out)).toMatchObject({ CapBnd: '0000000000000001', CapEff: '0000000000000001' });
  });

  it('--privileged: every capability the runtime has, no seccomp; seccomp=unconfined; no-new-privileges', async () => {
    const priv = await sh(STATUS, { privileged: true });
    const host = hostCapBnd();
    expect(status(priv.out)).toMatchObject({ CapBnd: host, CapEff: host, Seccomp: '0' });
    expect(BigInt(`0x${host}`) & ~fullMask()).toBe(0n);
    const unconfined = await sh(STATUS, { securityOpt: ['seccomp=unconfined'] });
    expect(status(unconfined.out)).toMatchObject({ CapEff: '00000000a80425fb', Seccomp: '0' });
    const nnp = await sh(STATUS, { securityOpt: ['no-new-privileges'] });
    expect(status(nnp.out)).toMatchObject({ NoNewPrivs: '1', Seccomp: '2' });
  });

  it('--ulimit lowers limits', async () => {
    const r = await sh('ulimit -n; ulimit -Hn', { ulimit: ['nofile=100:200'] });
    expect(r.out.trim().split('\n')).toEqual(['100', '200']);
  });

  // With swap but no swap accounting, the process would page instead of being OOM-killed.
  const noSwap = fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length <= 1;
  const canOom = noSwap || fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');

  it.skipIf(!canOom)('-m with no extra swap: an allocation past the limit is OOM-killed and reported', async () => {
    const r = await sh('exec tail /dev/zero', { memory: '16m', memorySwap: '16m' });
    expect(r.exitCode).toBe(137);
    expect(r.oomKilled).toBe(true);
    const fine = await sh('true', { memory: '16m', memorySwap: '16m' });
    expect(fine.oomKilled).toBe(false);
  });

  it.skipIf(!canOom)('-m: an OOM kill of a child is counted, but the main process that survives it was not OOM-killed', async () => {
    const r = await sh('head -c 200m /dev/zero | tail >/dev/null; echo survived', { memory: '32m', memorySwap: '32m' });
    expect(r.out).toBe('survived\n');
    expect(r.exitCode).toBe(0);
    expect(r.oomKilled).toBe(false);
    expect(r.oomKills).toBeGreaterThanOrEqual(1);
  });

  it.skipIf(!haveGcc)('io_uring_setup is refused with EPERM by the default profile (docker >= 25) and works unconfined; an unknown syscall gets ENOSYS', async () => {
    // A static C program, so it runs in alpine (musl) as it does on the host.
    const src = path.join(fx.dir, 'io-uring-probe.c');
    fs.writeFileSync(src, IO_URING_PROBE);
    const bin = path.join(fx.dir, 'io-uring-probe');
    execFileSync('gcc', ['-static', '-O2', '-o', bin, src]);
    fs.copyFileSync(bin, path.join(root, 'usr/local/bin/io-uring-probe'));
    fs.chmodSync(path.join(root, 'usr/local/bin/io-uring-probe'), 0o755);

    const filtered = await sh('io-uring-probe');
    expect(filtered.exitCode).toBe(0);
    const [uring, unknown] = filtered.out.trim().split('\n');
    expect(uring).toBe('io_uring_setup: errno 1'); // EPERM, the profile's defaultErrnoRet, as docker
    expect(unknown).toBe('syscall 1000: errno 38'); // ENOSYS from the stub in front of the filter, as runc
    const withAdmin = await sh('io-uring-probe', { capAdd: ['SYS_ADMIN'] });
    expect(withAdmin.out.trim().split('\n')[0]).toBe('io_uring_setup: errno 1'); // no capability re-opens it

    // Unconfined: an fd, unless this kernel itself refuses io_uring to the container.
    const sysctl = '/proc/sys/kernel/io_uring_disabled';
    const disabled = fs.existsSync(sysctl) ? fs.readFileSync(sysctl, 'utf8').trim() : '0';
    const host = execFileSync(bin, { encoding: 'utf8' }).trim().split('\n')[0];
    const unconfined = await sh('io-uring-probe', { securityOpt: ['seccomp=unconfined'] });
    if (host === 'io_uring_setup: fd' && disabled === '0') {
      expect(unconfined.out.trim().split('\n')[0]).toBe('io_uring_setup: fd');
    } else {
      console.warn(`this kernel refuses io_uring itself (host probe: ${host}, kernel.io_uring_disabled=${disabled}); only the filtered case was checked`);
    }
  });

  it('a device node made with CAP_MKNOD cannot be opened', async () => {
    const r = await sh('mknod /tmp/kmsg c 1 11 && echo mknod-ok; head -c 1 /tmp/kmsg >/dev/null 2>&1 || echo open-denied; rm -f /tmp/kmsg');
    expect(r.out.trim().split('\n')).toEqual(['mknod-ok', 'open-denied']);
  });
});
