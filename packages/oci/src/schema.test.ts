import { describe, expect, it } from 'vitest';
import { Digest } from './digest.js';
import { chainIds, MAX_MANIFEST_BYTES, parseImageConfig, parseIndex, parseManifest } from './validate.js';

const d = (s: string) => Digest.of(s).toString();

describe('schema validation', () => {
  it('accepts a docker schema2 manifest and keeps unknown fields', () => {
    const m = parseManifest(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('c'), size: 10 },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('l'), size: 20 }],
        extra: 1,
      }),
    );
    expect(m.layers).toHaveLength(1);
    expect((m as Record<string, unknown>)['extra']).toBe(1);
  });
  it('names the bad field', () => {
    expect(() =>
      parseManifest(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: d('c'), size: 1 }, layers: [{ mediaType: 'x', digest: 'sha256:nope', size: 1 }] }), 'manifest of alpine'),
    ).toThrow(/^manifest of alpine: layers\[0\]\.digest: not a valid digest$/);
    expect(() => parseIndex('{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"' + d('a') + '","size":-1}]}')).toThrow(/manifests\[0\]\.size/);
    expect(() => parseManifest('{not json')).toThrow(/invalid JSON/);
  });
  it('refuses oversized manifests', () => {
    expect(() => parseManifest(' '.repeat(MAX_MANIFEST_BYTES + 1))).toThrow(/exceeds/);
  });
  it('parses configs with null Env/Cmd', () => {
    const c = parseImageConfig(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: null, Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [d('1')] } }));
    expect(c.config?.Cmd).toEqual(['/bin/sh']);
  });
  it('computes chain IDs per the image spec', () => {
    const a = d('a');
    const b = d('b');
    const ids = chainIds([a, b]);
    expect(ids[0]?.toString()).toBe(a);
    expect(ids[1]?.toString()).toBe(Digest.of(`${a} ${b}`).toString());
  });
});
