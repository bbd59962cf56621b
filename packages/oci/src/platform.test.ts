import { describe, expect, it } from 'vitest';
import { formatPlatform, parsePlatform, platformMatches, selectPlatform } from './platform.js';
import type { Platform } from './schema.js';

const entries: { name: string; platform?: Platform }[] = [
  { name: 'att', platform: { os: 'unknown', architecture: 'unknown' } },
  { name: 'amd64', platform: { os: 'linux', architecture: 'amd64' } },
  { name: 'armv6', platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
  { name: 'armv7', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  { name: 'arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  { name: 'none' },
];

describe('platforms', () => {
  it('parses and formats', () => {
    expect(formatPlatform(parsePlatform('linux/amd64'))).toBe('linux/amd64');
    expect(formatPlatform(parsePlatform('linux/arm64'))).toBe('linux/arm64/v8');
    expect(formatPlatform(parsePlatform('linux/x86_64'))).toBe('linux/amd64');
    expect(() => parsePlatform('linux')).toThrow(/expected os\/arch/);
    expect(() => parsePlatform('linux//v8')).toThrow(/invalid platform/);
  });
  it('arm64 equals arm64/v8', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' })).toBe(true);
  });
  it('never picks unknown/unknown', () => {
    expect(platformMatches({ os: 'unknown', architecture: 'unknown' }, { os: 'unknown', architecture: 'unknown' })).toBe(false);
    expect(selectPlatform(entries.slice(0, 1), { os: 'unknown', architecture: 'unknown' })).toBeUndefined();
  });
  it('selects the right entry', () => {
    expect(selectPlatform(entries, parsePlatform('linux/amd64'))?.name).toBe('amd64');
    expect(selectPlatform(entries, parsePlatform('linux/arm64'))?.name).toBe('arm64');
    expect(selectPlatform(entries, parsePlatform('linux/arm/v6'))?.name).toBe('armv6');
    expect(selectPlatform(entries, parsePlatform('linux/arm'))?.name).toBe('armv7');
    expect(selectPlatform(entries, parsePlatform('linux/s390x'))).toBeUndefined();
  });
});
