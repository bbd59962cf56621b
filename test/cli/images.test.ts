import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { berth, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();

describe.skipIf(!!mirrorToolsSkip || !images)('berth pull, images, inspect, tag, rmi, prune (real registry as a docker.io mirror)', () => {
  let box: MirrorSandbox;

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine', 'busybox'] });
  });

  afterAll(async () => {
    await box?.cleanup();
  });

  it('pulls alpine through the mirror and prints only result lines when piped', async () => {
    const r = await berth(['pull', 'alpine'], { env: box.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Digest: sha256:[a-f0-9]{64}$/);
    expect(lines[1]).toBe('Status: Downloaded newer image for alpine:latest');
    expect(lines[2]).toBe('docker.io/library/alpine:latest');
    const again = await berth(['pull', 'alpine'], { env: box.env });
    expect(again.stdout).toContain('Status: Image is up to date for alpine:latest');
  });

  it('pull --quiet prints the reference; --format json describes the result', async () => {
    const q = await berth(['pull', '-q', 'busybox'], { env: box.env });
    expect(q.code).toBe(0);
    expect(q.stdout).toBe('docker.io/library/busybox:latest\n');
    const j = await berth(['pull', '--format', 'json', '--platform', 'linux/arm64', `${box.registry.host}/library/alpine:latest`], { env: box.env });
    expect(j.code).toBe(0);
    const out = JSON.parse(j.stdout) as { platform: string; reference: string; digest: string };
    expect(out.platform).toBe('linux/arm64/v8');
    expect(out.reference).toBe(`${box.registry.host}/library/alpine:latest`);
  });

  it('lists images as a table and as JSON', async () => {
    const t = await berth(['images'], { env: box.env });
    expect(t.code).toBe(0);
    const [header, ...rows] = t.stdout.trim().split('\n');
    expect(header).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(rows.some((l) => /^alpine\s+latest\s+[a-f0-9]{12}\s+\S.*\s\d+(\.\d+)?[kMG]?B$/.test(l))).toBe(true);
    expect(rows.some((l) => l.startsWith(`${box.registry.host}/library/alpine`))).toBe(true);
    const j = await berth(['images', '--format', 'json'], { env: box.env });
    const list = JSON.parse(j.stdout) as Array<{ repository: string; tag: string; platform: string; size: number }>;
    const alpine = list.find((i) => i.repository === 'alpine');
    expect(alpine?.platform).toBe('linux/amd64');
    expect(alpine?.size).toBeGreaterThan(3_000_000);
  });

  it('pulls by the digest of a multi-platform index; images, inspect and rmi find NAME@<index digest>', async () => {
    const json = await berth(['pull', '--format', 'json', 'alpine'], { env: box.env });
    const index = (JSON.parse(json.stdout) as { indexDigest: string }).indexDigest;
    expect(index).toMatch(/^sha256:[a-f0-9]{64}$/);
    const byDigest = `alpine@${index}`;
    const p = await berth(['pull', '-q', byDigest], { env: box.env });
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe(`docker.io/library/${byDigest}\n`);
    // The store keeps the platform manifest, not the index: every listing must still find it.
    const list = await berth(['images'], { env: box.env });
    expect(list.stderr).toBe('');
    // As docker: the digest reference names the image alpine:latest already lists, so no <none> row.
    expect(list.stdout).toMatch(/^alpine\s+latest\s+[a-f0-9]{12}\s/m);
    expect(list.stdout).not.toMatch(/^alpine\s+<none>/m);
    const inspect = await berth(['inspect', byDigest], { env: box.env });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect((JSON.parse(inspect.stdout) as Array<{ Config: { architecture: string } }>)[0]?.Config.architecture).toBe('amd64');
    expect((await berth(['rmi', byDigest], { env: box.env })).code).toBe(0);
  });

  it('inspect prints manifest and config', async () => {
    const r = await berth(['inspect', 'alpine'], { env: box.env });
    expect(r.code).toBe(0);
    const [img] = JSON.parse(r.stdout) as Array<{ Config: { config: { Cmd: string[] }; rootfs: { diff_ids: string[] } }; Manifest: { layers: unknown[] } }>;
    expect(img?.Config.config.Cmd).toEqual(['/bin/sh']);
    expect(img?.Manifest.layers).toHaveLength(1);
  });

  it('the store is an OCI layout skopeo reads', () => {
    const out = execFileSync('skopeo', ['inspect', `oci:${box.env['BERTH_ROOT']}/store:docker.io/library/alpine:latest`], { encoding: 'utf8' });
    expect(JSON.parse(out).Architecture).toBe('amd64');
  });

  it('tag, rmi and prune', async () => {
    expect((await berth(['tag', 'alpine', 'mine/alpine:v1'], { env: box.env })).code).toBe(0);
    expect((await berth(['images'], { env: box.env })).stdout).toMatch(/^mine\/alpine\s+v1\s/m);
    const rm1 = await berth(['rmi', 'mine/alpine:v1'], { env: box.env });
    expect(rm1.stdout).toBe('Untagged: mine/alpine:v1\n');
    const rm2 = await berth(['rmi', 'busybox'], { env: box.env });
    expect(rm2.code).toBe(0);
    expect(rm2.stdout).toMatch(/^Untagged: busybox:latest\n(Deleted: sha256:[a-f0-9]{64}\n)+$/);
    expect((await berth(['inspect', 'busybox'], { env: box.env })).code).toBe(1);
    const prune = await berth(['image', 'prune', '-f', '--format', 'json'], { env: box.env });
    expect(prune.code).toBe(0);
    expect(JSON.parse(prune.stdout).deletedBlobs).toEqual([]);
  });

  it('a bare 64-hex name is refused as docker does, and the full image ID works in inspect, tag and rmi', async () => {
    expect((await berth(['pull', '-q', 'busybox'], { env: box.env })).code).toBe(0);
    const [img] = JSON.parse((await berth(['inspect', 'busybox'], { env: box.env })).stdout) as Array<{ Digest: string }>;
    const id = (img?.Digest ?? '').replace(/^sha256:/, '');
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const bad = await berth(['tag', 'busybox', '1a3f'.repeat(16)], { env: box.env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`berth: invalid reference "${'1a3f'.repeat(16)}": cannot specify 64-byte hexadecimal strings (that is an image ID, not a repository name)\n`);
    const pullHex = await berth(['pull', '1a3f'.repeat(16)], { env: box.env });
    expect(pullHex.code).toBe(1);
    expect(pullHex.stderr).toMatch(/cannot specify 64-byte hexadecimal strings/);
    expect((await berth(['images', '--format', 'json'], { env: box.env })).stdout).not.toContain('1a3f1a3f');
    // The ID itself names the image wherever an image is looked up.
    const byId = await berth(['inspect', id], { env: box.env });
    expect(byId.code, byId.stderr).toBe(0);
    expect((JSON.parse(byId.stdout) as Array<{ Digest: string }>)[0]?.Digest).toBe(`sha256:${id}`);
    expect((await berth(['tag', id, 'mine/busybox:byid'], { env: box.env })).code).toBe(0);
    const rm = await berth(['rmi', id], { env: box.env });
    expect(rm.stderr).toBe('');
    expect(rm.code).toBe(0);
    expect(rm.stdout).toMatch(/^Untagged: busybox:latest\nUntagged: mine\/busybox:byid\n(Deleted: sha256:[a-f0-9]{64}\n)+$/);
  });

  it('fails with one line naming what failed', async () => {
    const missing = await berth(['pull', `${box.registry.host}/library/nosuch`], { env: box.env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`berth: pull ${box.registry.host}/library/nosuch:latest: manifest unknown\n`);
    const badPlatform = await berth(['pull', '--platform', 'linux/s390x', 'alpine'], { env: box.env });
    expect(badPlatform.code).toBe(1);
    expect(badPlatform.stderr).toMatch(/linux\/s390x.*linux\/amd64.*linux\/arm64\/v8/);
    const badRef = await berth(['pull', 'Alpine'], { env: box.env });
    expect(badRef.code).toBe(1);
    expect(badRef.stderr).toBe('berth: invalid reference "Alpine": repository name must be lowercase\n');
    const badMax = await berth(['pull', '--max-concurrent-downloads', '0', 'alpine'], { env: box.env });
    expect(badMax.code).toBe(2);
    expect(badMax.stderr).toMatch(/^berth: invalid --max-concurrent-downloads "0"/);
    // Malformed option values are usage errors, with the hint commander gives for its own.
    for (const args of [['pull', '--platform', 'nonsense', 'alpine'], ['unpack', '--platform', 'linux', 'alpine', '/nonexistent/dir'], ['image', 'prune', '--format', 'xml']]) {
      const bad = await berth(args, { env: box.env });
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toMatch(/^berth: invalid (platform|--format) "[^"]*": [^\n]*\n\(run "berth --help" for usage\)\n$/);
    }
    // inspect, like docker's: what was found on stdout, a line per name that was not, exit 1.
    const partial = await berth(['inspect', 'alpine', 'nosuch'], { env: box.env });
    expect(partial.code).toBe(1);
    expect((JSON.parse(partial.stdout) as unknown[]).length).toBe(1);
    expect(partial.stderr).toBe('berth: get image nosuch: no such image in the store (docker.io/library/nosuch:latest)\n');
    const noArgs = await berth(['pull'], { env: box.env });
    expect(noArgs.code).toBe(2);
    const unknown = await berth(['frobnicate'], { env: box.env });
    expect(unknown.code).toBe(2);
  });
});
