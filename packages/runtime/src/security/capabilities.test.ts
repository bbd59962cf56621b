import { describe, expect, it } from 'vitest';
import {
  ALL_CAPABILITIES,
  CAPABILITIES,
  DEFAULT_CAPABILITIES,
  capMask,
  capNames,
  fullMask,
  joinCapWords,
  normaliseCapability,
  resolveCapabilities,
  splitCapWords,
} from './capabilities.js';

/** Docker's well-known CapEff/CapBnd for a default container (`grep Cap /proc/self/status`). */
const DOCKER_DEFAULT_MASK = 0xa80425fbn;

describe('capability table', () => {
  it('numbers 0..40 once each, in order', () => {
    expect(ALL_CAPABILITIES).toHaveLength(41);
    ALL_CAPABILITIES.forEach((name, i) => expect(CAPABILITIES[name]).toBe(i));
    expect(CAPABILITIES['CAP_SYS_ADMIN']).toBe(21);
    expect(CAPABILITIES['CAP_CHECKPOINT_RESTORE']).toBe(40);
  });

  it("docker's 14 defaults make docker's mask", () => {
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(capMask(DEFAULT_CAPABILITIES)).toBe(DOCKER_DEFAULT_MASK);
    expect(capNames(DOCKER_DEFAULT_MASK)).toEqual(resolveCapabilities());
  });
});

describe('normaliseCapability', () => {
  it('accepts any case, with or without CAP_', () => {
    expect(normaliseCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(normaliseCapability('CAP_net_admin')).toBe('CAP_NET_ADMIN');
    expect(normaliseCapability('Sys_Admin')).toBe('CAP_SYS_ADMIN');
    expect(normaliseCapability('all')).toBe('ALL');
  });

  it('rejects unknown names naming the flag', () => {
    expect(() => normaliseCapability('CAP_FLY', '--cap-add')).toThrow('--cap-add: unknown capability "CAP_FLY"');
    expect(() => resolveCapabilities({ capDrop: ['nope'] })).toThrow('--cap-drop: unknown capability "nope"');
  });
});

describe('resolveCapabilities (docker TweakCapabilities)', () => {
  it('defaults minus drops plus adds', () => {
    const caps = resolveCapabilities({ capAdd: ['NET_ADMIN', 'sys_ptrace'], capDrop: ['chown', 'CAP_NET_RAW'] });
    expect(capMask(caps)).toBe((DOCKER_DEFAULT_MASK | (1n << 12n) | (1n << 19n)) & ~(1n << 0n) & ~(1n << 13n));
    expect(caps).not.toContain('CAP_CHOWN');
    expect(caps).toContain('CAP_SYS_PTRACE');
  });

  it('--cap-add ALL: every capability but the dropped ones', () => {
    const caps = resolveCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN', 'mknod'] });
    expect(caps).toHaveLength(39);
    expect(capMask(caps)).toBe(fullMask() & ~(1n << 21n) & ~(1n << 27n));
  });

  it('--cap-drop ALL: only the added ones', () => {
    expect(resolveCapabilities({ capDrop: ['all'], capAdd: ['kill', 'chown'] })).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(resolveCapabilities({ capDrop: ['ALL'] })).toEqual([]);
  });

  it('--cap-add ALL wins over --cap-drop ALL', () => {
    expect(resolveCapabilities({ capAdd: ['ALL'], capDrop: ['ALL'] })).toHaveLength(41);
  });

  it('--privileged: everything, whatever the adds and drops', () => {
    const caps = resolveCapabilities({ privileged: true, capDrop: ['ALL'] });
    expect(caps).toEqual([...ALL_CAPABILITIES]);
    expect(capMask(caps)).toBe(fullMask(40));
  });

  it('deduplicates and sorts by number', () => {
    expect(resolveCapabilities({ capDrop: ['ALL'], capAdd: ['kill', 'KILL', 'cap_chown'] })).toEqual(['CAP_CHOWN', 'CAP_KILL']);
  });
});

describe('capset words', () => {
  it('splits a 64-bit mask into the two u32 words of _LINUX_CAPABILITY_VERSION_3 and back', () => {
    const mask = fullMask(40);
    expect(splitCapWords(mask)).toEqual([0xffffffff, 0x1ff]);
    expect(splitCapWords(DOCKER_DEFAULT_MASK)).toEqual([0xa80425fb, 0]);
    expect(joinCapWords(0xffffffff, 0x1ff)).toBe(mask);
  });
});
