// Named and anonymous volumes, -v and --mount, through the built CLI, asserting what a docker user sees.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { mirrorToolsSkip, useAlpineBox } from '../helpers/cli.js';

const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
const HEX64 = /^[0-9a-f]{64}$/;

describe.skipIf(!!mirrorToolsSkip || !images || !isRoot)('volumes (as root)', () => {
  let host = '';
  const alpine = useAlpineBox({
    images: images as string,
    prepare: (box) => {
      host = path.join(box.dir, 'host');
      mkdirSync(host);
      writeFileSync(path.join(host, 'hello'), 'from host\n');
    },
  });
  const { b } = alpine;
  const names = async () => (await b(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean);

  it('volume create (again: the same), ls, ls -q, ls --format json, inspect, a bad name', async () => {
    expect(await b(['volume', 'create', '--label', 'team=a', 'v1'])).toEqual({ code: 0, stdout: 'v1\n', stderr: '' });
    expect(await b(['volume', 'create', 'v1'])).toEqual({ code: 0, stdout: 'v1\n', stderr: '' });
    expect((await b(['volume', 'ls'])).stdout).toMatch(/^DRIVER {3,}VOLUME NAME\nlocal {3,}v1\n$/);
    expect(await names()).toEqual(['v1']);
    const json = JSON.parse((await b(['volume', 'ls', '--format', 'json'])).stdout) as Array<Record<string, unknown>>;
    const mountpoint = path.join(alpine.box.env.BERTH_ROOT as string, 'volumes/v1/_data');
    expect(json).toEqual([{ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), Driver: 'local', Labels: { team: 'a' }, Mountpoint: mountpoint, Name: 'v1', Options: {}, Scope: 'local' }]);
    const inspect = await b(['volume', 'inspect', 'v1']);
    expect(JSON.parse(inspect.stdout)).toEqual(json);
    expect((await b(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'v1'])).stdout).toBe(`${mountpoint}\n`);
    expect(await b(['volume', 'inspect', 'nope'])).toEqual({ code: 1, stdout: '[]\n', stderr: 'berth: get nope: no such volume\n' });
    const bad = await b(['volume', 'create', 'a/b']);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('includes invalid characters for a local volume name')]);
  });

  it('run -v NAME:/path makes the volume on first use, seeded from the image when empty; kept across containers; :ro', async () => {
    const first = await b(['run', '--rm', '-v', 'apk:/etc/apk', 'alpine', 'sh', '-c', 'cat /etc/apk/repositories >/dev/null && ls /etc/apk && echo mine > /etc/apk/world']);
    expect([first.code, first.stderr]).toEqual([0, '']);
    expect(first.stdout.split('\n')).toContain('repositories');
    expect(await names()).toContain('apk');
    // Not empty now: not seeded again, the container's write is there.
    const again = await b(['run', '--rm', '-v', 'apk:/etc/apk', 'alpine', 'cat', '/etc/apk/world']);
    expect(again).toEqual({ code: 0, stdout: 'mine\n', stderr: '' });
    const ro = await b(['run', '--rm', '-v', 'apk:/etc/apk:ro', 'alpine', 'touch', '/etc/apk/x']);
    expect([ro.code, ro.stderr]).toEqual([1, expect.stringContaining('Read-only file system')]);
  });

  it('volume rm is refused while a container (stopped too) uses the volume; rm -f of a missing one is quiet', async () => {
    const run = await b(['run', '--name', 'user1', '-v', 'busy:/data', 'alpine', 'true']);
    expect(run.code).toBe(0);
    const id = (await b(['container', 'inspect', '-f', '{{.Id}}', 'user1'])).stdout.trim();
    expect(id).toMatch(HEX64);
    const refused = await b(['volume', 'rm', 'busy']);
    expect([refused.code, refused.stderr]).toEqual([1, `berth: remove busy: volume is in use - [${id}]\n`]);
    expect((await b(['rm', 'user1'])).code).toBe(0);
    expect(await b(['volume', 'rm', 'busy'])).toEqual({ code: 0, stdout: 'busy\n', stderr: '' });
    expect(await b(['volume', 'rm', '-f', 'busy'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await b(['volume', 'rm', 'busy'])).toEqual({ code: 1, stdout: '', stderr: 'berth: get busy: no such volume\n' });
  });

  it('--mount type=bind|volume|tmpfs as docker parses it, and its errors (exit 125)', async () => {
    const r = await b([
      'run', '--rm',
      '--mount', `type=bind,source=${host},target=/h,readonly`,
      '--mount', 'type=volume,src=mvol,dst=/m',
      '--mount', 'type=tmpfs,destination=/t,tmpfs-size=1m',
      'alpine', 'sh', '-c', 'cat /h/hello; touch /h/x 2>/dev/null || echo ro; echo v > /m/f; grep " /t " /proc/mounts',
    ]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^from host\nro\ntmpfs \/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k/);
    expect(await names()).toContain('mvol');
    const missing = await b(['run', '--rm', '--mount', 'type=bind,source=/no/such/dir,target=/x', 'alpine', 'true']);
    expect([missing.code, missing.stderr]).toEqual([125, 'berth: invalid mount config for type "bind": bind source path does not exist: /no/such/dir\n']);
    const noSource = await b(['run', '--rm', '--mount', 'type=bind,target=/x', 'alpine', 'true']);
    expect([noSource.code, noSource.stderr]).toEqual([125, 'berth: invalid argument "type=bind,target=/x" for "--mount" flag: source is required when specifying bind mounts\n']);
    const badKey = await b(['run', '--rm', '--mount', 'type=volume,target=/x,color=red', 'alpine', 'true']);
    expect([badKey.code, badKey.stderr]).toEqual([125, `berth: invalid argument "type=volume,target=/x,color=red" for "--mount" flag: unexpected key 'color' in 'color=red'\n`]);
  });

  it('-v /missing/host/dir:/x makes the host directory, as docker does', async () => {
    const dir = path.join(alpine.box.dir, 'made/by/run');
    const r = await b(['run', '--rm', '-v', `${dir}:/x`, 'alpine', 'sh', '-c', 'echo made > /x/f']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(readFileSync(path.join(dir, 'f'), 'utf8')).toBe('made\n');
  });

  it("container inspect shows docker's Mounts", async () => {
    const r = await b(['run', '--name', 'mnt', '-v', 'v1:/data', '-v', `${host}:/h:ro`, '--mount', 'type=tmpfs,target=/t', 'alpine', 'true']);
    expect(r.code).toBe(0);
    const [c] = JSON.parse((await b(['container', 'inspect', 'mnt'])).stdout) as Array<{ Mounts: unknown[] }>;
    expect(c?.Mounts).toEqual([
      { Type: 'volume', Name: 'v1', Source: path.join(alpine.box.env.BERTH_ROOT as string, 'volumes/v1/_data'), Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
      { Type: 'bind', Source: host, Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rprivate' },
      { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
    ]);
    expect((await b(['rm', 'mnt'])).code).toBe(0);
  });

  it("anonymous volumes: -v /path and an image's VOLUME (seeded), removed with rm -v and run --rm; named ones stay", async () => {
    const before = await names();
    expect((await b(['run', '--name', 'withvol', 'alpine', 'sh', '-c', 'mkdir -p /data && echo seeded > /data/seed'])).code).toBe(0);
    const commit = await b(['commit', '-c', 'VOLUME /data', 'withvol', 'volimg:1']);
    expect(commit.code).toBe(0);
    expect((await b(['rm', 'withvol'])).code).toBe(0);
    const iv = await b(['run', '--name', 'iv', '-v', '/anon', '-v', 'named1:/n', 'volimg:1', 'cat', '/data/seed']);
    expect(iv).toEqual({ code: 0, stdout: 'seeded\n', stderr: '' });
    const made = (await names()).filter((n) => !before.includes(n));
    expect(made.filter((n) => HEX64.test(n))).toHaveLength(2);
    expect(made).toContain('named1');
    const [anon] = made.filter((n) => HEX64.test(n));
    const labels = (JSON.parse((await b(['volume', 'inspect', anon as string])).stdout) as Array<{ Labels: Record<string, string> }>)[0]?.Labels;
    expect(labels).toEqual({ 'com.docker.volume.anonymous': '' });
    expect((await b(['rm', '-v', 'iv'])).code).toBe(0);
    expect((await names()).filter((n) => !before.includes(n))).toEqual(['named1']);
    const rm = await b(['run', '--rm', 'volimg:1', 'cat', '/data/seed']);
    expect(rm).toEqual({ code: 0, stdout: 'seeded\n', stderr: '' });
    expect((await names()).filter((n) => !before.includes(n))).toEqual(['named1']);
  });

  it('volume prune -f: the unused anonymous volumes (docker 23+); -a: unused named ones too; system df and info count them', async () => {
    expect((await b(['run', '--name', 'leaver', '-v', '/left', 'alpine', 'true'])).code).toBe(0);
    expect((await b(['rm', 'leaver'])).code).toBe(0);
    expect((await b(['run', '--name', 'keeper', '-v', 'inuse:/k', 'alpine', 'true'])).code).toBe(0);
    const left = (await names()).filter((n) => HEX64.test(n));
    expect(left).toHaveLength(1);
    const df = await b(['system', 'df']);
    const row = df.stdout.split('\n').find((l) => l.startsWith('Local Volumes'))?.split(/ {2,}/);
    const total = (await names()).length;
    expect(row?.slice(0, 3)).toEqual(['Local Volumes', String(total), '1']);
    expect((await b(['info'])).stdout).toMatch(new RegExp(`\\n Volumes: +${total}\\n`));
    const dv = await b(['system', 'df', '-v']);
    expect(dv.stdout).toMatch(/\nLocal Volumes space usage:\n\nVOLUME NAME {3,}LINKS {3,}SIZE\n/);
    expect(dv.stdout).toMatch(/^inuse {3,}1 {3,}\S+$/m);
    const prune = await b(['volume', 'prune', '-f']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toMatch(new RegExp(`^Deleted Volumes:\\n${left[0]}\\n\\nTotal reclaimed space: \\S+\\n$`));
    expect((await names()).filter((n) => HEX64.test(n))).toEqual([]);
    const declined = await b(['volume', 'prune', '-a'], 'n\n');
    expect(declined.stdout).toBe('WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] \n');
    const all = await b(['volume', 'prune', '-a', '-f']);
    expect(all.stdout).toContain('named1\n');
    expect(await names()).toEqual(['inuse']);
    expect((await b(['rm', 'keeper'])).code).toBe(0);
  });

  it("cp reads and writes a container's volume, not the empty directory under it in the rootfs", async () => {
    expect((await b(['run', '--name', 'cpv', '-v', 'cpvol:/data', 'alpine', 'sh', '-c', 'echo in-volume > /data/f'])).code).toBe(0);
    expect(await b(['cp', 'cpv:/data/f', path.join(alpine.box.dir, 'f-out')])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(path.join(alpine.box.dir, 'f-out'), 'utf8')).toBe('in-volume\n');
    expect(await b(['cp', path.join(host, 'hello'), 'cpv:/data/'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await b(['cp', 'cpv:/data', path.join(alpine.box.dir, 'vol-out')])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(path.join(alpine.box.dir, 'vol-out/hello'), 'utf8')).toBe('from host\n');
    const read = await b(['run', '--rm', '-v', 'cpvol:/v', 'alpine', 'cat', '/v/hello']);
    expect(read).toEqual({ code: 0, stdout: 'from host\n', stderr: '' });
    expect(existsSync(path.join(alpine.box.env.BERTH_ROOT as string, 'volumes/cpvol/_data/hello'))).toBe(true);
    expect((await b(['rm', 'cpv'])).code).toBe(0);
  });
});
