import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate, pickChallenge } from './challenge.js';

describe('parseWwwAuthenticate', () => {
  it('parses a Docker Hub bearer challenge', () => {
    const [c, ...rest] = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"');
    expect(rest).toEqual([]);
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
  });

  it('keeps commas and escaped quotes inside quoted values', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://a/token",scope="repository:a:pull,push repository:b:pull",error="say \\"hi\\", ok"');
    expect(c?.params['scope']).toBe('repository:a:pull,push repository:b:pull');
    expect(c?.params['error']).toBe('say "hi", ok');
  });

  it('splits several challenges in one header and across headers', () => {
    const cs = parseWwwAuthenticate(['Basic realm="Registry Realm", Bearer realm="https://t/token", service=reg', 'Negotiate abc123==']);
    expect(cs.map((c) => c.scheme)).toEqual(['basic', 'bearer', 'negotiate']);
    expect(cs[0]?.params).toEqual({ realm: 'Registry Realm' });
    expect(cs[1]?.params).toEqual({ realm: 'https://t/token', service: 'reg' });
    expect(cs[2]?.token68).toBe('abc123==');
  });

  it('is case-insensitive for scheme and param names, tolerant of spaces and empty parts', () => {
    const [c] = parseWwwAuthenticate('  BEARER   Realm = "x" ,, SERVICE=y , ');
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'x', service: 'y' } });
  });

  it('never throws on garbage and returns nothing for nothing', () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(() => parseWwwAuthenticate('"=,"=="\\')).not.toThrow();
    expect(parseWwwAuthenticate('Bearer realm="unterminated')[0]?.params['realm']).toBe('unterminated');
  });

  it('prefers Bearer over Basic', () => {
    expect(pickChallenge(parseWwwAuthenticate('Basic realm="r", Bearer realm="t"'))?.scheme).toBe('bearer');
    expect(pickChallenge(parseWwwAuthenticate('Basic realm="r"'))?.scheme).toBe('basic');
    expect(pickChallenge(parseWwwAuthenticate('Digest realm="r"'))).toBeUndefined();
  });
});
