import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reference, parsePlatform } from '@berth/oci';
import { build, type BuildOptions } from './build.js';
import type { BuildEvent } from './events.js';
import { resolveOwner } from './fsutil/owner.js';
import { haveSharedImages, envBuildOptions, makeBuildEnv, type BuildEnv } from './test-support/env.js';

let env: BuildEnv;
let ctx: string;

beforeAll(async () => {
  env = await makeBuildEnv();
  ctx = path.join(env.dir, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(path.join(ctx, 'tool.sh'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
});
afterAll(async () => {
  await env?.close();
});

function opts(recipe: string, extra: Partial<BuildOptions> = {}): BuildOptions & { events: BuildEvent[] } {
  return envBuildOptions(env, { context: ctx, tag: 'localhost/test/stages:1', recipe, extra });
}

describe.skipIf(!haveSharedImages)('stages, owners and platforms', () => {
  it('a stage can start from another stage; copy.from keeps owners unless chown names new ones from the image passwd', async () => {
    const recipe = `from: alpine:3.20
stages:
  base:
    from: busybox:1.38
    steps:
      - copy: {src: tool.sh, dest: /opt/tool.sh, chown: "4321:4321"}
  more:
    from: base
    steps:
      - copy: {src: tool.sh, dest: /opt/second.sh}
  unused:
    from: nosuch/image:1
steps:
  - copy: {from: more, src: /opt, dest: /kept}
  - copy: {from: more, src: /opt/tool.sh, dest: /srv/named.sh, chown: "nobody:nogroup", chmod: "0750"}
`;
    const o = opts(recipe);
    const r = await build(o);
    // a stage the final image does not need is not built (its base does not even exist)
    expect(o.events.filter((e) => e.type === 'warning')).toEqual([{ type: 'warning', message: 'stage unused is not used by the final image (skipped)' }]);
    expect(o.events.filter((e) => e.type === 'stage').map((e) => (e as { stage?: string }).stage)).toEqual(['base', 'more', undefined]);
    const tree = (await env.snapshots.ensure({ image: { manifest: r.manifest, config: r.config } })).path;
    const kept = await stat(path.join(tree, 'kept/tool.sh'));
    expect([kept.uid, kept.gid, kept.mode & 0o777]).toEqual([4321, 4321, 0o755]);
    expect((await stat(path.join(tree, 'kept/second.sh'))).uid).toBe(0);
    const named = await stat(path.join(tree, 'srv/named.sh'));
    // alpine: nobody is 65534, nogroup 65533
    expect([named.uid, named.gid, named.mode & 0o777]).toEqual([65534, 65533, 0o750]);
    expect(r.config.architecture).toBeTruthy();
  });

  it('picks the requested platform of a multi-platform base (copy-only builds need no emulation)', async () => {
    // The store keeps one platform per tag (the host's for alpine:3.20): asking for another is a clear error...
    await expect(build(opts('from: alpine:3.20\n', { platform: parsePlatform('linux/arm64') }))).rejects.toThrow(
      /^berth\.yaml:1:7: from: get image docker\.io\/library\/alpine:3\.20: image is linux\/amd64, not linux\/arm64\/v8$/,
    );
    // ...and with the arm64 image in the store under its own tag, the build uses it.
    const { loadImages } = await import('@berth/archive');
    const { sharedImages } = await import('./test-support/env.js');
    await loadImages({ store: env.store, input: path.join(sharedImages, 'alpine'), repository: 'localhost/alpine-arm64', platform: parsePlatform('linux/arm64') });
    const r = await build(opts('from: localhost/alpine-arm64:3.20\nsteps:\n  - copy: {src: tool.sh, dest: /tool.sh}\n', { platform: parsePlatform('linux/arm64'), tags: [Reference.parse('localhost/test/arm:1')] }));
    expect([r.config.architecture, r.config.variant]).toEqual(['arm64', 'v8']);
    expect(r.manifest.layers[0]?.digest).toBe('sha256:041fa34a81788242df9e78fa69b97ab45b8ec47ddbf88864755610414a7bf3de');
    expect(r.descriptor.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it('reports CACHED steps, warns about unused build args, and ignores a corrupt cache entry', async () => {
    const recipe = 'from: busybox:1.38\nsteps:\n  - copy: {src: tool.sh, dest: /t.sh}\n  - env: {A: b}\n';
    await build(opts(recipe));
    const o = opts(recipe, { buildArgs: { NOT_DECLARED: 'x' } });
    const r = await build(o);
    expect(r.steps.map((s) => s.cached)).toEqual([true, true]);
    expect(o.events.filter((e) => e.type === 'step').map((e) => (e as { text: string }).text)).toEqual(['COPY tool.sh /t.sh', 'ENV A=b']);
    expect(o.events.find((e) => e.type === 'warning')).toEqual({ type: 'warning', message: "build arg NOT_DECLARED is not declared in the recipe's args (ignored)" });
    const done = o.events.find((e) => e.type === 'done') as { digest: { toString(): string } };
    expect(done.digest.toString()).toBe(r.digest.toString());
    // corrupt every cache entry: the next build executes everything again
    const { readdir } = await import('node:fs/promises');
    for (const f of await readdir(env.cacheDir)) if (f.endsWith('.json')) await writeFile(path.join(env.cacheDir, f), '{"version":1,');
    const again = await build(opts(recipe));
    expect(again.steps.map((s) => s.cached)).toEqual([false, false]);
  });
});

describe('resolveOwner', () => {
  it('resolves names inside the tree and never reads the host passwd through a link', async () => {
    const tree = path.join(env.dir, 'owner-tree');
    await mkdir(path.join(tree, 'etc'), { recursive: true });
    await writeFile(path.join(tree, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1500:1600::/app:/bin/sh\n');
    await writeFile(path.join(tree, 'etc/group'), 'root:x:0:\nstaff:x:50:app\n');
    expect(resolveOwner(tree, 'app')).toEqual({ uid: 1500, gid: 1600 });
    expect(resolveOwner(tree, 'app:staff')).toEqual({ uid: 1500, gid: 50 });
    expect(resolveOwner(tree, '7')).toEqual({ uid: 7, gid: 7 });
    expect(resolveOwner(tree, '7:staff')).toEqual({ uid: 7, gid: 50 });
    expect(() => resolveOwner(tree, 'nobody')).toThrow('unable to find user nobody: no matching entries in passwd file');
    expect(() => resolveOwner(tree, 'app:nogroup')).toThrow('unable to find group nogroup');
    const evil = path.join(env.dir, 'evil-tree');
    await mkdir(path.join(evil, 'etc'), { recursive: true });
    await symlink('../../../../../../../../etc/hostname', path.join(evil, 'etc/passwd'));
    // the host has root in /etc/passwd; the tree does not, so this must fail
    expect(() => resolveOwner(evil, 'root')).toThrow('unable to find user root');
    await writeFile(path.join(evil, 'etc/group'), 'x');
    const loop = path.join(env.dir, 'loop-tree');
    await mkdir(path.join(loop, 'etc'), { recursive: true });
    await symlink('/../../etc/passwd', path.join(loop, 'etc/passwd'));
    expect(() => resolveOwner(loop, 'root')).toThrow('too many levels of symbolic links');
    expect(await readFile('/etc/passwd', 'utf8')).toContain('root:');
  });
});
