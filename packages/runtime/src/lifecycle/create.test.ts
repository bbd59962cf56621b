import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import type { ImageConfig } from '@berth/oci';
import { buildSpec } from '../spec/build.js';
import type { RuntimeContext } from './context.js';
import { createContainer } from './create.js';
import { readInitConfig } from './state.js';
import { StateStore, newContainerId } from './state.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-create-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const rootfs = path.join(tmp, 'rootfs');
fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
const imageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['sh'] } } as unknown as ImageConfig;

function ctx(): RuntimeContext {
  // create() touches only the store; the other members are not used.
  return { store: new StateStore(path.join(tmp, 'state')), timing: false } as RuntimeContext;
}

describe('createContainer', () => {
  it('writes state (created), the init config and the etc files; the hostname defaults to the short id', () => {
    const c = ctx();
    const id = newContainerId();
    const spec = { ...buildSpec({ imageConfig, rootfs, hostEnv: {} }), hostname: '' };
    const state = createContainer(c, { id, name: 'one', rootfs, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: false });
    expect(state).toMatchObject({ id, name: 'one', status: 'created', command: ['sh'], rootfs });
    const cfg = readInitConfig(c, id);
    expect(cfg.spec.hostname).toBe(id.slice(0, 12));
    expect(fs.readFileSync(c.store.file(id, 'hostname'), 'utf8')).toBe(`${id.slice(0, 12)}\n`);
    expect(cfg.etcFiles?.hosts).toBe(c.store.file(id, 'hosts'));
    expect(cfg.devices.map((d) => d.name)).toEqual(['null', 'zero', 'full', 'random', 'urandom', 'tty']);
    // The compiled seccomp filter travels in the config and is cached by the profile's hash.
    const program = Buffer.from(cfg.seccompProgram as string, 'base64');
    expect(program.length % 8).toBe(0);
    const cached = fs.readdirSync(path.join(c.store.root, '.cache/seccomp'));
    expect(cached).toHaveLength(1);
    expect(fs.readFileSync(path.join(c.store.root, '.cache/seccomp', cached[0] as string)).equals(program)).toBe(true);
    expect(c.store.resolve('one')).toBe(id);
  });

  it('-v with a missing host directory creates it, as docker does', () => {
    const c = ctx();
    const missing = path.join(tmp, 'no/such/dir');
    const spec = buildSpec({ imageConfig, rootfs, hostEnv: {}, overrides: { volumes: [`${missing}:/x`] } });
    const id = newContainerId();
    createContainer(c, { id, rootfs, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: false });
    expect(fs.statSync(missing).isDirectory()).toBe(true);
    expect(readInitConfig(c, id).spec.mounts).toMatchObject([{ destination: '/x', source: missing, type: 'bind' }]);
  });

  it('does not reuse a filter cached under the key an older berth used (profile hash without the compiler version)', () => {
    const c = ctx();
    const spec = buildSpec({ imageConfig, rootfs, hostEnv: {}, overrides: { capAdd: ['SYS_NICE'] } });
    // What the cache held before compileSeccomp put the -ENOSYS stub first: a program keyed by arch and profile only.
    const oldKey = createHash('sha256').update(`${process.arch}\0${JSON.stringify(spec.seccomp)}`).digest('hex');
    const stale = Buffer.alloc(8); // one `ret 0` instruction: kill
    stale.writeUInt16LE(0x06, 0);
    fs.mkdirSync(path.join(c.store.root, '.cache/seccomp'), { recursive: true });
    fs.writeFileSync(path.join(c.store.root, '.cache/seccomp', `${oldKey}.bpf`), stale);
    const id = newContainerId();
    createContainer(c, { id, name: 'nice', rootfs, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: false });
    const program = Buffer.from(readInitConfig(c, id).seccompProgram as string, 'base64');
    expect(program.equals(stale)).toBe(false);
    expect(program.length / 8).toBeGreaterThan(100);
  });

  it('refuses a taken name and leaves nothing behind', () => {
    const c = ctx();
    const spec = buildSpec({ imageConfig, rootfs, hostEnv: {} });
    const id = newContainerId();
    let err: unknown;
    try {
      createContainer(c, { id, name: 'one', rootfs, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: false });
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'EIN_USE')).toBe(true);
    expect(fs.existsSync(path.join(c.store.root, id))).toBe(false);
  });

  it('refuses a rootfs that is not a directory', () => {
    const spec = buildSpec({ imageConfig, rootfs, hostEnv: {} });
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, '');
    expect(() =>
      createContainer(ctx(), { rootfs: file, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: false }),
    ).toThrow(`create container: rootfs ${file} is not a directory`);
  });
});

describe('deleteContainer', () => {
  // A cgroup that is already gone: remove() has nothing to do.
  const cgroups = { open: async () => ({ remove: async () => undefined }) } as unknown as RuntimeContext['cgroups'];
  it('deletes an owned rootfs through the context remover, then the state and the name', async () => {
    const { deleteContainer } = await import('./delete.js');
    const removed: string[] = [];
    const owned = path.join(tmp, 'owned-rootfs');
    fs.mkdirSync(path.join(owned, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(owned, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const c = {
      ...ctx(),
      cgroups,
      removeRootfs: (dir: string) => {
        removed.push(dir);
        fs.rmSync(dir, { recursive: true });
      },
    } as RuntimeContext;
    const id = newContainerId();
    const spec = buildSpec({ imageConfig, rootfs: owned, hostEnv: {} });
    createContainer(c, { id, name: 'owned', rootfs: owned, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: true });
    await deleteContainer(c, id);
    expect(removed).toEqual([owned]);
    expect(fs.existsSync(owned)).toBe(false);
    expect(fs.existsSync(c.store.dir(id))).toBe(false);
    expect(() => c.store.resolve('owned')).toThrow(/no such container/);
  });

  it('leaves a rootfs the container does not own', async () => {
    const { deleteContainer } = await import('./delete.js');
    const removed: string[] = [];
    const c = { ...ctx(), cgroups, removeRootfs: (dir: string) => removed.push(dir) } as RuntimeContext;
    const id = newContainerId();
    const spec = buildSpec({ imageConfig, rootfs, hostEnv: {} });
    createContainer(c, { id, rootfs, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: false });
    await deleteContainer(c, id);
    expect(removed).toEqual([]);
    expect(fs.existsSync(path.join(rootfs, 'etc/passwd'))).toBe(true);
  });
});
