import { describe, expect, it } from 'vitest';
import { MediaType, contentTypeMediaType, detectMediaType, isImageMediaType, isSchema1MediaType } from './mediatypes.js';

const manifest = { schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: 'sha256:' + 'a'.repeat(64), size: 2 }, layers: [] };
const index = { schemaVersion: 2, manifests: [] };

describe('detectMediaType', () => {
  it('takes a declared index or manifest type, from bytes or a parsed value', () => {
    for (const mt of [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest]) {
      expect(detectMediaType({ ...index, mediaType: mt })).toBe(mt);
      expect(detectMediaType(Buffer.from(JSON.stringify({ ...manifest, mediaType: mt })))).toBe(mt);
    }
  });

  it('a declared type that is neither index nor manifest decides: nothing, whatever the shape or Content-Type', () => {
    expect(detectMediaType({ ...index, mediaType: 'application/x-weird' })).toBeUndefined();
    expect(detectMediaType({ ...manifest, mediaType: MediaType.OciConfig }, { contentType: MediaType.OciManifest })).toBeUndefined();
  });

  it('without mediaType: the Content-Type (parameters and case ignored), then the shape', () => {
    expect(detectMediaType({ schemaVersion: 2 }, { contentType: 'Application/VND.docker.distribution.manifest.list.v2+json; charset=utf-8' })).toBe(MediaType.DockerManifestList);
    expect(detectMediaType({ ...manifest, mediaType: '' }, { contentType: 'application/json' })).toBe(MediaType.OciManifest);
    expect(detectMediaType(index)).toBe(MediaType.OciIndex);
    expect(detectMediaType(manifest)).toBe(MediaType.OciManifest);
  });

  it('the shape needs config and layers for a manifest, manifests for an index', () => {
    expect(detectMediaType({ schemaVersion: 2, config: {} })).toBeUndefined();
    expect(detectMediaType({ schemaVersion: 2, config: null, layers: [] })).toBeUndefined();
    expect(detectMediaType({ architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } })).toBeUndefined();
    expect(detectMediaType({ manifests: {} })).toBeUndefined();
  });

  it('schema 1 by Content-Type, by mediaType or by schemaVersion, before anything else', () => {
    expect(detectMediaType({ ...manifest, mediaType: MediaType.OciManifest }, { contentType: MediaType.DockerManifestV1Signed })).toBe(MediaType.DockerManifestV1Signed);
    expect(detectMediaType({ mediaType: MediaType.DockerManifestV1 })).toBe(MediaType.DockerManifestV1);
    expect(isSchema1MediaType(detectMediaType({ schemaVersion: 1, fsLayers: [] }))).toBe(true);
    expect(detectMediaType(Buffer.from('not json'), { contentType: MediaType.DockerManifestV1Signed })).toBe(MediaType.DockerManifestV1Signed);
  });

  it('what is not a JSON object is nothing', () => {
    for (const v of [Buffer.from('not json'), Buffer.from('[]'), null, 42, 'x', [index]]) expect(detectMediaType(v)).toBeUndefined();
  });
});

describe('isImageMediaType and contentTypeMediaType', () => {
  it('index and manifest types only', () => {
    expect([MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].every(isImageMediaType)).toBe(true);
    expect([MediaType.OciConfig, MediaType.DockerManifestV1, undefined, ''].some(isImageMediaType)).toBe(false);
  });

  it('strips parameters and lower-cases', () => {
    expect(contentTypeMediaType(' Application/JSON ; charset=utf-8')).toBe('application/json');
    expect(contentTypeMediaType(undefined)).toBe('');
  });
});
