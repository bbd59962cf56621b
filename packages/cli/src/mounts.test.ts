import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MountPlan, parseMountFlag, parseVolumeFlag } from './mounts.js';
import { VolumeStore } from './volumes.js';

describe('parseVolumeFlag (-v, docker)', () => {
  it('a host path, a named volume, an anonymous one, with modes', () => {
    expect(parseVolumeFlag('/srv/x:/data:ro')).toEqual({ type: 'bind', source: '/srv/x', target: '/data', readonly: true, createSource: true, mode: 'ro', propagation: 'rprivate' });
    expect(parseVolumeFlag('cache:/var/cache/')).toEqual({ type: 'volume', name: 'cache', target: '/var/cache', readonly: false, nocopy: false, mode: 'z', labels: {} });
    expect(parseVolumeFlag('/anon')).toEqual({ type: 'volume', target: '/anon', readonly: false, nocopy: false, mode: 'z', labels: {} });
    expect(parseVolumeFlag('vv:/d:nocopy')).toMatchObject({ type: 'volume', name: 'vv', nocopy: true });
  });
  it("refuses docker's bad specs", () => {
    expect(() => parseVolumeFlag('vv:rel')).toThrow(/mount path must be absolute/);
    expect(() => parseVolumeFlag('vv:/')).toThrow(/destination can't be '\/'/);
    expect(() => parseVolumeFlag('./rel:/x')).toThrow(/invalid characters for a local volume name/);
    expect(() => parseVolumeFlag('vv:/x:bogus')).toThrow(/invalid mode: bogus/);
    expect(() => parseVolumeFlag('a:b:c:d')).toThrow(/invalid spec/);
    expect(() => parseVolumeFlag('/anon:ro')).toThrow('invalid argument "/anon:ro" for "--volume" flag: invalid spec: /anon:ro');
  });
});

describe('parseMountFlag (--mount, docker)', () => {
  it('bind, volume (the default type) and tmpfs with their options', () => {
    expect(parseMountFlag('type=bind,source=/srv,target=/s,readonly,bind-propagation=rshared')).toEqual({
      type: 'bind', source: '/srv', target: '/s', readonly: true, createSource: false, mode: '', propagation: 'rshared',
    });
    expect(parseMountFlag('src=vv,dst=/d,ro=false,volume-nocopy,volume-label=a=b')).toEqual({ type: 'volume', name: 'vv', target: '/d', readonly: false, nocopy: true, mode: '', labels: { a: 'b' } });
    expect(parseMountFlag('type=volume,destination=/anon')).toEqual({ type: 'volume', target: '/anon', readonly: false, nocopy: false, mode: '', labels: {} });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777')).toEqual({ type: 'tmpfs', target: '/t', readonly: false, size: '64m', mode: '1777' });
    expect(parseMountFlag('TYPE=bind,Source=/a,Target=/b,readonly=1')).toMatchObject({ type: 'bind', readonly: true });
  });
  it("refuses what docker's CLI refuses, in its words", () => {
    const err = (spec: string) => {
      try {
        parseMountFlag(spec);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(err('type=bind,target=/x')).toBe('invalid argument "type=bind,target=/x" for "--mount" flag: source is required when specifying bind mounts');
    expect(err('type=volume,source=vv')).toBe('invalid argument "type=volume,source=vv" for "--mount" flag: target is required');
    expect(err('type=volume,target=/x,color=red')).toBe(`invalid argument "type=volume,target=/x,color=red" for "--mount" flag: unexpected key 'color' in 'color=red'`);
    expect(err('type=volume,target')).toBe(`invalid argument "type=volume,target" for "--mount" flag: invalid field 'target' must be a key=value pair`);
    expect(err('type=bind,source=/a,target=/b,volume-nocopy')).toMatch(/cannot mix 'volume-\*' options with mount type 'bind'/);
    expect(err('type=tmpfs,source=x,target=/t')).toMatch(/field Source must not be specified/);
    expect(err('type=nfs,target=/t')).toMatch(/invalid mount type/);
    expect(err('type=volume,target=/x,readonly=maybe')).toMatch(/invalid value for readonly: maybe/);
  });
});

describe('MountPlan', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-mounts-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  it('turns volumes into their _data bind mounts, adds uncovered image volumes, refuses duplicate targets', () => {
    const overrides: { volumes?: string[]; tmpfs?: string[] } = {};
    const store = new VolumeStore(root);
    const plan = new MountPlan({ volume: ['vv:/data:ro'], mount: ['type=tmpfs,target=/t,tmpfs-size=1m'] }, store, overrides, ['/run']);
    plan.apply();
    expect(overrides).toEqual({ volumes: [`${path.join(root, 'volumes/vv/_data')}:/data:ro`], tmpfs: ['/run', '/t:size=1m'] });
    plan.addImageVolumes({ '/data': {}, '/var/lib/db/': {} });
    expect(overrides.volumes).toHaveLength(2);
    expect(overrides.volumes?.[1]).toMatch(new RegExp(`^${path.join(root, 'volumes')}/[0-9a-f]{64}/_data:/var/lib/db$`));
    expect(() => new MountPlan({ volume: ['aa:/x', '/h:/x'] }, store)).toThrow('Duplicate mount point: /x');
  });
});
