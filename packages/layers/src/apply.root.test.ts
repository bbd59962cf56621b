/**
 * applyLayer as root: trusted.* xattrs (only root could write them at all).
 */
import { describe, expect, it } from 'vitest';
import { CAPABILITY_XATTR } from '../../../fixtures/layers/index.js';
import { lgetxattr, llistxattr } from '@berth/sys';
import { useApplySandbox } from './test-support/apply-sandbox.js';

const { applyFixture, at, read } = useApplySandbox();

describe('applyLayer entry types (root)', () => {
  // Root: only root could write trusted.* at all (unprivileged, EPERM skips them anyway).
  it('never writes trusted.* (overlayfs opaque/redirect/whiteout markers included) and keeps user.* and security.capability', async () => {
    await applyFixture('trustedXattrs');
    const attrs = (rel: string): Record<string, string> =>
      Object.fromEntries(llistxattr(at(rel)).sort().map((name) => [name, (lgetxattr(at(rel), name) ?? Buffer.alloc(0)).toString('hex')]));
    expect(attrs('shown')).toEqual({ 'user.x': Buffer.from('dir').toString('hex') });
    expect(attrs('redirected')).toEqual({});
    expect(attrs('hider')).toEqual({});
    expect(attrs('bin/ping')).toEqual({ 'security.capability': CAPABILITY_XATTR.toString('hex'), 'user.x': '00ff' });
    // Nothing else was lost: the "opaque" directory still shows the lower layer's file.
    expect(read('shown/lower')).toBe('lower');
    expect(read('bin/ping')).toBe('ping');
  });

});
