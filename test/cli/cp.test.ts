// `berth cp` through the built CLI: docker's path rules, -a, -L, tar streams, and containment.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, berthBin, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('berth cp (as root)', () => {
  let box: MirrorSandbox;
  /** A directory of the host that the container's hostile symlinks name: nothing may land in it. */
  let hostDir: string;
  let work: string;
  const b = (args: string[], input?: string) => berth(args, { env: box.env, ...(input !== undefined ? { input } : {}) });
  /** berth with bytes in and out (tar streams). */
  const raw = (args: string[], input?: Buffer) => spawnSync(process.execPath, ['--', berthBin, ...args], { env: { ...process.env, ...box.env }, ...(input ? { input } : {}), maxBuffer: 64 * 1024 * 1024 });
  const tarList = (tar: Buffer) => spawnSync('tar', ['-t'], { input: tar }).stdout.toString().split('\n').filter(Boolean).sort();

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
    hostDir = path.join(box.dir, 'host-secret');
    work = path.join(box.dir, 'work');
    mkdirSync(hostDir);
    mkdirSync(work);
    writeFileSync(path.join(hostDir, 'keep'), 'host\n');
    const setup = [
      'mkdir -p /data/sub /in',
      'echo hello > /data/a.txt',
      'echo deep > /data/sub/b.txt',
      'touch /data/.wh.plain',
      'chown 1234:4321 /data/a.txt',
      'ln -s /etc/shadow /shadowlink',
      'ln -s ../../../../../../../../etc/shadow /uplink',
      'ln -s / /rootlink',
      `mkdir -p ${hostDir}`,
      `ln -s ../../../../../../../..${hostDir} /escape`,
    ].join(' && ');
    expect((await b(['pull', '-q', 'alpine'])).code).toBe(0);
    const r = await b(['run', '--name', 'cpc', 'alpine', 'sh', '-c', setup]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  });

  afterAll(async () => {
    await b(['rm', '-f', 'cpc', 'cprun']).catch(() => undefined);
    await box?.cleanup();
  });

  it('a file out: to a new name, into a directory, over a file; owned by the caller unless -a', async () => {
    const out = path.join(work, 'a-out.txt');
    expect(await b(['cp', 'cpc:/data/a.txt', out])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(out, 'utf8')).toBe('hello\n');
    expect(lstatSync(out).uid).toBe(0);
    writeFileSync(out, 'old content that is longer\n');
    expect((await b(['cp', '-a', 'cpc:/data/a.txt', out])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('hello\n');
    expect([lstatSync(out).uid, lstatSync(out).gid]).toEqual([1234, 4321]);
    mkdirSync(path.join(work, 'into'));
    expect((await b(['cp', 'cpc:/data/a.txt', path.join(work, 'into')])).code).toBe(0);
    expect(readFileSync(path.join(work, 'into', 'a.txt'), 'utf8')).toBe('hello\n');
  });

  it('a directory out: into an existing one, as a new one, its content with /.; .wh. names are plain files', async () => {
    mkdirSync(path.join(work, 'd1'));
    expect((await b(['cp', 'cpc:/data', path.join(work, 'd1')])).code).toBe(0);
    expect(readFileSync(path.join(work, 'd1/data/sub/b.txt'), 'utf8')).toBe('deep\n');
    expect(existsSync(path.join(work, 'd1/data/.wh.plain'))).toBe(true);
    expect((await b(['cp', 'cpc:/data', path.join(work, 'd2')])).code).toBe(0);
    expect(readFileSync(path.join(work, 'd2/a.txt'), 'utf8')).toBe('hello\n');
    mkdirSync(path.join(work, 'd3'));
    expect((await b(['cp', 'cpc:/data/.', path.join(work, 'd3')])).code).toBe(0);
    expect(readFileSync(path.join(work, 'd3/sub/b.txt'), 'utf8')).toBe('deep\n');
    expect(existsSync(path.join(work, 'd3/data'))).toBe(false);
  });

  it("docker's errors: a directory onto a file, a file into a missing DIR/, a missing source, two containers, none", async () => {
    writeFileSync(path.join(work, 'afile'), 'x');
    const dirOnFile = await b(['cp', 'cpc:/data', path.join(work, 'afile')]);
    expect([dirOnFile.code, dirOnFile.stderr]).toEqual([1, expect.stringContaining('cannot copy directory')]);
    const noDir = await b(['cp', 'cpc:/data/a.txt', path.join(work, 'nodir') + '/']);
    expect([noDir.code, noDir.stderr]).toEqual([1, expect.stringContaining('no such directory')]);
    const missing = await b(['cp', 'cpc:/nope', work]);
    expect([missing.code, missing.stderr]).toEqual([1, 'berth: No such container:path: cpc:/nope\n']);
    expect((await b(['cp', 'cpc:/a', 'cpc:/b'])).stderr).toBe('berth: copying between containers is not supported\n');
    expect((await b(['cp', '/a', '/b'])).stderr).toBe('berth: must specify at least one container source\n');
  });

  it('a tar stream out with -, and one in from stdin into a directory (which must exist)', async () => {
    const out = raw(['cp', 'cpc:/data', '-']);
    expect(out.status).toBe(0);
    expect(tarList(out.stdout)).toEqual(['data/', 'data/.wh.plain', 'data/a.txt', 'data/sub/', 'data/sub/b.txt']);
    const single = raw(['cp', 'cpc:/data/a.txt', '-']);
    expect(tarList(single.stdout)).toEqual(['a.txt']);
    const src = path.join(work, 'tarsrc');
    mkdirSync(src);
    writeFileSync(path.join(src, 'from-tar'), 'tarred\n');
    const tar = spawnSync('tar', ['-c', '-C', src, '.']).stdout;
    const into = raw(['cp', '-', 'cpc:/in'], tar);
    expect([into.status, into.stderr.toString()]).toEqual([0, '']);
    expect(tarList(raw(['cp', 'cpc:/in', '-']).stdout)).toEqual(['in/', 'in/from-tar']);
    const notDir = raw(['cp', '-', 'cpc:/data/a.txt'], tar);
    expect([notDir.status, notDir.stderr.toString()]).toEqual([1, 'berth: destination "cpc:/data/a.txt" must be a directory\n']);
  });

  it('files in: root-owned unless -a keeps the uid/gid; a missing parent is an error', async () => {
    const f = path.join(work, 'host.txt');
    writeFileSync(f, 'from host\n');
    chownSync(f, 4242, 4343);
    expect(await b(['cp', f, 'cpc:/data/new.txt'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await b(['cp', '-a', f, 'cpc:/data/kept.txt'])).toEqual({ code: 0, stdout: '', stderr: '' });
    const back = path.join(work, 'back');
    mkdirSync(back);
    expect((await b(['cp', '-a', 'cpc:/data/.', back])).code).toBe(0);
    expect(readFileSync(path.join(back, 'new.txt'), 'utf8')).toBe('from host\n');
    expect([lstatSync(path.join(back, 'new.txt')).uid, lstatSync(path.join(back, 'kept.txt')).uid, lstatSync(path.join(back, 'kept.txt')).gid]).toEqual([0, 4242, 4343]);
    const noParent = await b(['cp', f, 'cpc:/no/such/x']);
    expect([noParent.code, noParent.stderr]).toEqual([1, 'berth: Could not find the file /no/such in container cpc\n']);
  });

  it("hostile symlinks out: -L through a link to /etc/shadow or ../../etc/shadow copies the container's file", async () => {
    const containerShadow = tarList(raw(['cp', 'cpc:/etc/shadow', '-']).stdout);
    expect(containerShadow).toEqual(['shadow']);
    const own = path.join(work, 'own-shadow');
    expect((await b(['cp', 'cpc:/etc/shadow', own])).code).toBe(0);
    for (const link of ['/shadowlink', '/uplink', '/rootlink/etc/shadow']) {
      const out = path.join(work, `via-${path.basename(link)}`);
      const r = await b(['cp', '-L', `cpc:${link}`, out]);
      expect([link, r.code, r.stderr]).toEqual([link, 0, '']);
      expect(readFileSync(out)).toEqual(readFileSync(own));
      expect(readFileSync(out)).not.toEqual(readFileSync('/etc/shadow'));
    }
    // Without -L, the link itself.
    const asLink = path.join(work, 'uplink-itself');
    expect((await b(['cp', 'cpc:/uplink', asLink])).code).toBe(0);
    expect(readlinkSync(asLink)).toBe('../../../../../../../../etc/shadow');
  });

  it('hostile symlinks in: a destination through a link to the host\'s directory or / stays in the rootfs', async () => {
    const f = path.join(work, 'payload');
    writeFileSync(f, 'payload\n');
    expect((await b(['cp', f, 'cpc:/escape/x'])).code).toBe(0);
    expect((await b(['cp', f, `cpc:/rootlink${hostDir}/y`])).code).toBe(0);
    expect((await b(['cp', f, 'cpc:/escape/'])).code).toBe(0);
    expect(existsSync(path.join(hostDir, 'x'))).toBe(false);
    expect(existsSync(path.join(hostDir, 'y'))).toBe(false);
    expect(existsSync(path.join(hostDir, 'payload'))).toBe(false);
    expect(tarList(raw(['cp', `cpc:${hostDir}`, '-']).stdout)).toEqual(['host-secret/', 'host-secret/payload', 'host-secret/x', 'host-secret/y']);
  });

  it('works on a running container, which keeps running (paused only during the copy)', async () => {
    const r = await b(['run', '-d', '--name', 'cprun', 'alpine', 'sh', '-c', 'echo live > /live; sleep 300']);
    expect(r.code).toBe(0);
    let out = Buffer.alloc(0);
    for (let i = 0; i < 100 && !out.toString().includes('live'); i++) {
      out = raw(['cp', 'cprun:/live', '-']).stdout;
      if (!out.toString().includes('live')) await new Promise((res) => setTimeout(res, 100));
    }
    expect(tarList(out)).toEqual(['live']);
    const f = path.join(work, 'to-running');
    writeFileSync(f, 'in\n');
    expect((await b(['cp', f, 'cprun:/tmp/'])).code).toBe(0);
    expect(tarList(raw(['cp', 'cprun:/tmp/to-running', '-']).stdout)).toEqual(['to-running']);
    const ps = await b(['ps', '--format', 'json']);
    const row = (JSON.parse(ps.stdout) as Array<{ name: string; status: string; paused?: boolean }>).find((c) => c.name === 'cprun');
    expect([row?.status, row?.paused ?? false]).toEqual(['running', false]);
  });
});
