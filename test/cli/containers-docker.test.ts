// The everyday docker verbs on containers, through the built CLI, asserting what a docker user sees.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berthBin, mirrorToolsSkip, useAlpineBox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('docker verbs on containers (as root)', () => {
  const alpine = useAlpineBox({ images: images as string });
  const { b, psRow } = alpine;

  it('ps shows "Exited (3) … ago" and "Created … ago" for a container that ran in the foreground', async () => {
    const r = await b(['run', '--name', 'fg-exit', 'alpine', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    const [, , , created, status] = await psRow('fg-exit');
    expect(created).toMatch(/^(Less than a second|\d+ seconds?) ago$/);
    expect(status).toMatch(/^Exited \(3\) (Less than a second|\d+ seconds?) ago$/);
  });

  it('ps shows "Up …" for a running detached container', async () => {
    const r = await b(['run', '-d', '--name', 'up', 'alpine', 'sleep', '300']);
    expect(r.code).toBe(0);
    const [, , , , status] = await psRow('up');
    expect(status).toMatch(/^Up (Less than a second|\d+ seconds?)$/);
    expect((await b(['rm', '-f', 'up'])).code).toBe(0);
  });

  it('logs of a container that ran in the foreground (kept by default, as docker): stdout to stdout, stderr to stderr', async () => {
    const r = await b(['run', '--name', 'fg-logs', 'alpine', 'sh', '-c', 'for i in 1 2 3 4; do echo out$i; done; echo err >&2; printf partial']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'out1\nout2\nout3\nout4\npartial', 'err\n']);
    const l = await b(['logs', 'fg-logs']);
    expect([l.code, l.stdout, l.stderr]).toEqual([0, 'out1\nout2\nout3\nout4\npartial', 'err\n']);
  });

  it('--log-driver none keeps nothing: logs says so as docker does; json-file (the default) is accepted', async () => {
    const r = await b(['run', '--name', 'fg-nolog', '--log-driver', 'none', 'alpine', 'echo', 'shown']);
    expect([r.code, r.stdout]).toEqual([0, 'shown\n']);
    const l = await b(['logs', 'fg-nolog']);
    expect([l.code, l.stdout, l.stderr]).toEqual([1, '', 'berth: configured logging driver does not support reading\n']);
    expect(await b(['container', 'inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'fg-nolog'])).toMatchObject({ code: 0, stdout: 'none\n' });
    const j = await b(['run', '--name', 'fg-jsonfile', '--log-driver', 'json-file', 'alpine', 'echo', 'kept']);
    expect([j.code, j.stdout]).toEqual([0, 'kept\n']);
    expect((await b(['logs', 'fg-jsonfile'])).stdout).toBe('kept\n');
    const d = await b(['run', '-d', '--name', 'bg-nolog', '--log-driver', 'none', 'alpine', 'echo', 'dropped']);
    expect(d.code).toBe(0);
    expect((await b(['logs', 'bg-nolog'])).stderr).toBe('berth: configured logging driver does not support reading\n');
    const bad = await b(['run', '--log-driver', 'syslog', 'alpine', 'true']);
    expect([bad.code, bad.stderr]).toEqual([125, 'berth: invalid --log-driver "syslog": expected json-file or none\n']);
  });

  it('logs of a foreground container with binary output and a long line: as docker\'s json-file would give them back', async () => {
    const r = await b(['run', '--name', 'fg-binary', 'alpine', 'sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" a; echo; printf "\\377\\376ok\\n"']);
    expect(r.code).toBe(0);
    const l = await b(['logs', 'fg-binary']);
    expect(l.stdout).toBe(`${'a'.repeat(40000)}\n\ufffd\ufffdok\n`);
    expect((await b(['logs', '--tail', '2', 'fg-binary'])).stdout).toBe(`${'a'.repeat(40000 - 32768)}\n\ufffd\ufffdok\n`);
  });

  it('logs --tail N / -n N: the last N lines (of both streams, in order); -n 0 none; all', async () => {
    const t2 = await b(['logs', '--tail', '2', 'fg-logs']);
    expect([t2.code, t2.stdout, t2.stderr]).toEqual([0, 'partial', 'err\n']);
    const t3 = await b(['logs', '-n', '3', 'fg-logs']);
    expect([t3.stdout, t3.stderr]).toEqual(['out4\npartial', 'err\n']);
    const t0 = await b(['logs', '-n', '0', 'fg-logs']);
    expect([t0.code, t0.stdout, t0.stderr]).toEqual([0, '', '']);
    expect((await b(['logs', '--tail', 'all', 'fg-logs'])).stdout).toBe('out1\nout2\nout3\nout4\npartial');
    const bad = await b(['logs', '--tail', 'many', 'fg-logs']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'berth: invalid --tail "many": expected a number of lines or "all"']);
  });

  it('logs -t prefixes each line with its RFC 3339 time in nanoseconds; --since and --until filter by it', async () => {
    const t = await b(['logs', '-t', 'fg-logs']);
    const lines = t.stdout.split('\n');
    expect(lines.slice(0, 4).every((l, i) => new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z out${i + 1}$`).test(l))).toBe(true);
    expect(t.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]{18}Z err\n$/);
    const stamp = lines[0]?.split(' ')[0] ?? '';
    expect(Math.abs(Date.parse(stamp) - Date.now())).toBeLessThan(10 * 60_000);

    expect((await b(['logs', '--since', '10m', 'fg-logs'])).stdout).toBe('out1\nout2\nout3\nout4\npartial');
    const future = String(Math.floor(Date.now() / 1000) + 3600);
    const none = await b(['logs', '--since', future, 'fg-logs']);
    expect([none.code, none.stdout, none.stderr]).toEqual([0, '', '']);
    expect((await b(['logs', '--until', '2000-01-01T00:00:00Z', 'fg-logs'])).stdout).toBe('');
    expect((await b(['logs', '--until', future, 'fg-logs'])).stdout).toBe('out1\nout2\nout3\nout4\npartial');
    const bad = await b(['logs', '--since', 'yesterday', 'fg-logs']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'berth: invalid --since "yesterday": expected a timestamp (2026-01-02T13:23:37Z, Unix seconds) or a duration (42m)']);
  });

  it('logs --tail with -f of a detached container prints the last lines, then what comes, to its end', async () => {
    const d = await b(['run', '-d', '--name', 'tailf', 'alpine', 'sh', '-c', 'echo a; echo b; echo c; sleep 1; echo d']);
    expect(d.code).toBe(0);
    const f = await b(['logs', '-f', '--tail', '1', 'tailf']);
    // c or a later line first: the log may have grown past c by the time logs reads it.
    expect(f.code).toBe(0);
    expect(['c\nd\n', 'd\n']).toContain(f.stdout);
  });

  /** The kernel's word on the container's freezer: v1 freezer.state, v2 cgroup.events' frozen line. */
  const freezer = async (name: string): Promise<string> => {
    const id = (JSON.parse((await b(['container', 'inspect', name])).stdout) as Array<{ id: string }>)[0]?.id ?? '';
    const v1 = `/sys/fs/cgroup/freezer/berth/${id}/freezer.state`;
    if (existsSync(v1)) return readFileSync(v1, 'utf8').trim();
    const events = readFileSync(`/sys/fs/cgroup/berth/${id}/cgroup.events`, 'utf8');
    return /^frozen 1$/m.test(events) ? 'FROZEN' : 'THAWED';
  };

  it('pause freezes the container (the cgroup freezer), ps says "Up … (Paused)"; unpause thaws it; docker\'s errors otherwise', async () => {
    expect((await b(['run', '-d', '--name', 'frozen', 'alpine', 'sleep', '300'])).code).toBe(0);
    const p = await b(['pause', 'frozen']);
    expect([p.code, p.stdout, p.stderr]).toEqual([0, 'frozen\n', '']);
    expect(await freezer('frozen')).toBe('FROZEN');
    expect((await psRow('frozen'))[4]).toMatch(/^Up (Less than a second|\d+ seconds?) \(Paused\)$/);
    const again = await b(['pause', 'frozen']);
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/^berth: pause container [0-9a-f]{12}: container is already paused\n$/)]);

    const u = await b(['container', 'unpause', 'frozen']);
    expect([u.code, u.stdout, u.stderr]).toEqual([0, 'frozen\n', '']);
    expect(await freezer('frozen')).toBe('THAWED');
    expect((await psRow('frozen'))[4]).toMatch(/^Up (Less than a second|\d+ seconds?)$/);
    const notPaused = await b(['unpause', 'frozen']);
    expect([notPaused.code, notPaused.stderr]).toEqual([1, expect.stringMatching(/container is not paused\n$/)]);
  });

  it('kill of a paused container: SIGKILL thaws it so that it dies (as docker)', async () => {
    expect((await b(['pause', 'frozen'])).code).toBe(0);
    expect((await b(['kill', 'frozen'])).code).toBe(0);
    let status = '';
    for (let i = 0; i < 50 && !status.startsWith('Exited'); i++) {
      status = (await psRow('frozen'))[4] ?? '';
      if (!status.startsWith('Exited')) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toMatch(/^Exited \(137\) /);
    const stopped = await b(['pause', 'frozen']);
    expect([stopped.code, stopped.stderr]).toEqual([1, expect.stringMatching(/^berth: pause container [0-9a-f]{12}: container is not running\n$/)]);
  });

  it('rename: the new name finds it, the old one is free again; a taken name or the same name is refused', async () => {
    expect((await b(['rename', 'fg-exit', 'renamed'])).code).toBe(0);
    expect((await psRow('renamed'))[4]).toMatch(/^Exited \(3\)/);
    const gone = await b(['logs', 'fg-exit']);
    expect([gone.code, gone.stderr]).toEqual([1, 'berth: find container fg-exit: no such container\n']);
    const taken = await b(['rename', 'renamed', 'fg-logs']);
    expect([taken.code, taken.stderr]).toEqual([1, expect.stringMatching(/^berth: rename container [0-9a-f]{12}: name "fg-logs" is already in use by container [0-9a-f]{12}\n$/)]);
    const same = await b(['container', 'rename', 'renamed', 'renamed']);
    expect([same.code, same.stderr]).toEqual([1, expect.stringMatching(/"renamed" is already its name\n$/)]);
    // The old name is free: a new container takes it.
    expect((await b(['run', '--name', 'fg-exit', 'alpine', 'true'])).code).toBe(0);
  });

  /** A file of the container's cgroup: v1 under the controller's hierarchy, else v2's unified one. */
  const cgroupFile = async (name: string, controller: string, file: string, v2file: string): Promise<string> => {
    const id = (JSON.parse((await b(['container', 'inspect', name])).stdout) as Array<{ id: string }>)[0]?.id ?? '';
    const v1 = `/sys/fs/cgroup/${controller}/berth/${id}/${file}`;
    return readFileSync(existsSync(v1) ? v1 : `/sys/fs/cgroup/berth/${id}/${v2file}`, 'utf8').trim();
  };

  it('update -m / --cpus / --pids-limit writes the running container\'s cgroup and prints its name; bad values and a stopped container are refused', async () => {
    expect((await b(['run', '-d', '--name', 'limited', '-m', '64m', 'alpine', 'sleep', '300'])).code).toBe(0);
    const u = await b(['update', '-m', '128m', '--memory-swap', '256m', '--cpus', '0.5', '--pids-limit', '33', 'limited']);
    expect([u.code, u.stdout, u.stderr]).toEqual([0, 'limited\n', '']);
    expect(await cgroupFile('limited', 'memory', 'memory.limit_in_bytes', 'memory.max')).toBe(String(128 * 2 ** 20));
    expect(await cgroupFile('limited', 'pids', 'pids.max', 'pids.max')).toBe('33');
    expect(await cgroupFile('limited', 'cpu', 'cpu.cfs_quota_us', 'cpu.max')).toMatch(/^50000( 100000)?$/);
    expect((await b(['update', '--pids-limit', '-1', 'limited'])).code).toBe(0);
    expect(await cgroupFile('limited', 'pids', 'pids.max', 'pids.max')).toBe('max');

    const bad = await b(['update', '-m', 'lots', 'limited']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'berth: invalid --memory "lots": expected a size like 512m or 1g']);
    const nothing = await b(['update', 'limited']);
    expect([nothing.code, nothing.stderr.split('\n')[0]]).toEqual([2, 'berth: update: nothing to change (give --memory, --memory-swap, --cpus or --pids-limit)']);
    const unsupported = await b(['update', '--cpu-shares', '512', 'limited']);
    expect([unsupported.code, unsupported.stderr.split('\n')[0]]).toEqual([2, "berth: unknown option '--cpu-shares'"]);
    const stopped = await b(['update', '-m', '64m', 'fg-logs']);
    expect([stopped.code, stopped.stderr]).toEqual([1, expect.stringMatching(/^berth: update container [0-9a-f]{12}: container is not running\n$/)]);
  });

  it('top: the host ps -ef rows of the container\'s processes only; ps options passed on; a stopped container is refused', async () => {
    const t = await b(['top', 'limited']);
    expect(t.code).toBe(0);
    const [header, ...rows] = t.stdout.trimEnd().split('\n');
    expect(header?.split(/\s+/)).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(rows.length).toBe(1);
    expect(rows[0]).toMatch(/^root\s+\d+\s+\d+\s.*\ssleep 300$/);
    const o = await b(['container', 'top', 'limited', '-o', 'pid,comm']);
    expect(o.code).toBe(0);
    expect(o.stdout).toMatch(/^PID\s+COMMAND\n\d+\s+sleep\n$/);
    const stopped = await b(['top', 'fg-logs']);
    expect([stopped.code, stopped.stderr]).toEqual([1, expect.stringMatching(/container is not running\n$/)]);
    expect((await b(['rm', '-f', 'limited'])).code).toBe(0);
  });

  it('stats --no-stream: one sample per running container with docker\'s columns (CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS); --format json', async () => {
    expect((await b(['run', '-d', '--name', 'busy', '--network', 'none', '-m', '64m', 'alpine', 'sh', '-c', 'while :; do :; done'])).code).toBe(0);
    const r = await b(['stats', '--no-stream', 'busy']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const [header, row, more] = r.stdout.split('\n');
    expect(header?.split(/ {3,}/)).toEqual(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']);
    expect(more).toBe('');
    const cells = row?.split(/ {3,}/) ?? [];
    expect(cells[1]).toBe('busy');
    // A shell spinning: some CPU, whatever the load.
    expect(Number(cells[2]?.replace('%', ''))).toBeGreaterThan(0);
    expect(cells[3]).toMatch(/^[\d.]+(B|KiB|MiB) \/ 64MiB$/);
    expect(cells[4]).toMatch(/^\d+\.\d\d%$/);
    expect(cells[5]).toBe('0B / 0B'); // --network none: only lo, which docker does not count
    expect(cells[7]).toBe('1');

    const j = await b(['container', 'stats', '--no-stream', '--format', 'json']);
    expect(j.code).toBe(0);
    const rows = JSON.parse(j.stdout) as Array<Record<string, string>>;
    expect(rows.map((x) => x['NAME'])).toEqual(['busy']);
    expect(rows[0]?.['MEM USAGE / LIMIT']).toMatch(/ \/ 64MiB$/);

    expect((await b(['run', '--name', 'stats-stopped', 'alpine', 'true'])).code).toBe(0);
    const stopped = await b(['stats', '--no-stream', 'stats-stopped']);
    expect([stopped.code, stopped.stderr]).toEqual([1, expect.stringMatching(/^berth: read stats of container [0-9a-f]{12}: container is not running\n$/)]);
    expect((await b(['rm', '-f', 'busy'])).code).toBe(0);
  });

  it('export: the container\'s filesystem, with its changes, as a tar on stdout or -o (the same bytes); a missing container is one line', async () => {
    expect((await b(['run', '--name', 'exported', 'alpine', 'sh', '-c', 'echo hello > /made-here; rm /etc/motd'])).code).toBe(0);
    const file = `${alpine.box.dir}/exported.tar`;
    const o = await b(['export', '-o', file, 'exported']);
    expect([o.code, o.stdout, o.stderr]).toEqual([0, '', '']);
    const list = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n');
    expect(list).toContain('made-here');
    expect(list).toContain('bin/busybox');
    expect(list).toContain('etc/');
    expect(list).not.toContain('etc/motd');
    expect(execFileSync('tar', ['-xOf', file, 'made-here'], { encoding: 'utf8' })).toBe('hello\n');
    // To stdout: the same archive.
    const child = spawnSync(process.execPath, [berthBin, 'container', 'export', 'exported'], { env: { ...process.env, ...alpine.box.env }, maxBuffer: 64 * 2 ** 20 });
    expect(child.status).toBe(0);
    expect(child.stdout.equals(readFileSync(file))).toBe(true);
    const missing = await b(['export', 'nosuch']);
    expect([missing.code, missing.stderr]).toEqual([1, 'berth: find container nosuch: no such container\n']);
  });

  it('diff: A, C and D lines against the image, parents as C, as docker', async () => {
    expect((await b(['run', '--name', 'changed', 'alpine', 'sh', '-c', 'echo hi > /root/new; echo more >> /etc/profile; rm /etc/motd; mkdir -p /tmp/d/e'])).code).toBe(0);
    const d = await b(['diff', 'changed']);
    expect([d.code, d.stderr]).toEqual([0, '']);
    const lines = d.stdout.trimEnd().split('\n');
    for (const want of ['C /etc', 'C /etc/profile', 'D /etc/motd', 'C /root', 'A /root/new', 'C /tmp', 'A /tmp/d', 'A /tmp/d/e']) expect(lines).toContain(want);
    expect(lines.every((l) => /^[ACD] \//.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('C /bin'))).toBe(false);
    // The runtime's mount points (docker's init layer) are not the container's changes.
    expect(lines.filter((l) => /resolv\.conf|\/etc\/hosts|hostname/.test(l))).toEqual([]);
    expect((await b(['run', '--name', 'root-only', 'alpine', 'sh', '-c', 'echo hi > /root/new'])).code).toBe(0);
    expect((await b(['diff', 'root-only'])).stdout).toBe('C /root\nA /root/new\n');
    const missing = await b(['container', 'diff', 'nosuch']);
    expect([missing.code, missing.stderr]).toEqual([1, 'berth: find container nosuch: no such container\n']);
  });

  it('commit: the container\'s changes as a new layer on its image, with --change, -m and -a; the new image runs', async () => {
    expect((await b(['run', '--name', 'to-commit', 'alpine', 'sh', '-c', 'echo committed > /made; rm /etc/motd'])).code).toBe(0);
    const c = await b(['commit', '-c', 'CMD ["cat", "/made"]', '-c', 'ENV GREETING=hi', '-m', 'my change', '-a', 'me', 'to-commit', 'committed:v1']);
    expect([c.code, c.stderr]).toEqual([0, '']);
    expect(c.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const r = await b(['run', '--rm', 'committed:v1']);
    expect([r.code, r.stdout]).toEqual([0, 'committed\n']);
    const gone = await b(['run', '--rm', 'committed:v1', 'sh', '-c', 'test -e /etc/motd && echo present || echo "gone $GREETING"']);
    expect(gone.stdout).toBe('gone hi\n');
    type Inspected = Array<{ Config: { author?: string; history: Array<{ comment?: string }>; rootfs: { diff_ids: string[] } } }>;
    const inspected = JSON.parse((await b(['inspect', 'committed:v1'])).stdout) as Inspected;
    const base = JSON.parse((await b(['inspect', 'alpine'])).stdout) as Inspected;
    expect(inspected[0]?.Config.rootfs.diff_ids.length).toBe((base[0]?.Config.rootfs.diff_ids.length ?? 0) + 1);
    expect(inspected[0]?.Config.history.at(-1)?.comment).toBe('my change');
    expect(inspected[0]?.Config.author).toBe('me');
    const bad = await b(['commit', '-c', 'RUN rm -rf /', 'to-commit']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'berth: invalid --change "RUN rm -rf /": RUN is not supported (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME are)']);
  });

  it('import: a tar (from export, a file or stdin, plain or gzip) as a one-layer image that runs; --change and -m', async () => {
    const file = `${alpine.box.dir}/exported.tar`; // from the export test: alpine plus /made-here
    const i = await b(['import', '-c', 'CMD ["cat", "/made-here"]', '-m', 'imported', file, 'imported:v1']);
    expect([i.code, i.stderr]).toEqual([0, '']);
    expect(i.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await b(['run', '--rm', 'imported:v1'])).stdout).toBe('hello\n');
    type Inspected = Array<{ Config: { history: Array<{ comment?: string }>; rootfs: { diff_ids: string[] } } }>;
    const inspected = JSON.parse((await b(['inspect', 'imported:v1'])).stdout) as Inspected;
    expect(inspected[0]?.Config.rootfs.diff_ids.length).toBe(1);
    expect(inspected[0]?.Config.history[0]?.comment).toBe('imported');
    // gzip on stdin: the same tar, so the same diff id.
    const gz = spawnSync('sh', ['-c', `gzip -c ${file} | ${process.execPath} ${berthBin} import - imported:gz`], { env: { ...process.env, ...alpine.box.env }, encoding: 'utf8' });
    expect([gz.status, gz.stderr]).toEqual([0, '']);
    const again = JSON.parse((await b(['inspect', 'imported:gz'])).stdout) as Inspected;
    expect(again[0]?.Config.rootfs.diff_ids).toEqual(inspected[0]?.Config.rootfs.diff_ids);
    const empty = await b(['import', '-', 'nothing:v1'], '');
    expect([empty.code, empty.stderr]).toEqual([1, 'berth: import -: the archive is empty\n']);
  });
});
