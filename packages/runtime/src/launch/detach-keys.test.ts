import { describe, expect, it } from 'vitest';
import { DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys } from './detach-keys.js';

describe('parseDetachKeys', () => {
  it("reads docker's key names", () => {
    expect([...parseDetachKeys(DEFAULT_DETACH_KEYS)]).toEqual([0x10, 0x11]);
    expect([...parseDetachKeys('a,ctrl-a,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')]).toEqual([0x61, 1, 0, 27, 28, 29, 30, 31]);
  });
  it('refuses what is not a key, naming the flag', () => {
    expect(() => parseDetachKeys('ctrl-P')).toThrow(/invalid --detach-keys "ctrl-P": "ctrl-P" is not a key/);
    expect(() => parseDetachKeys('shift-a')).toThrow(/--detach-keys/);
    expect(() => parseDetachKeys('')).toThrow(/--detach-keys/);
  });
});

describe('DetachKeyScanner', () => {
  const keys = parseDetachKeys(DEFAULT_DETACH_KEYS);
  it('passes ordinary input through', () => {
    expect(new DetachKeyScanner(keys).push(Buffer.from('ls\r'))).toEqual({ forward: Buffer.from('ls\r'), detached: false });
  });
  it('detaches on the sequence, across chunks, dropping it and what follows', () => {
    const s = new DetachKeyScanner(keys);
    expect(s.push(Buffer.from('ab\x10'))).toEqual({ forward: Buffer.from('ab'), detached: false });
    expect(s.push(Buffer.from('\x11zz'))).toEqual({ forward: Buffer.alloc(0), detached: true });
  });
  it('passes a broken sequence on, and a repeated first key starts it again', () => {
    const s = new DetachKeyScanner(keys);
    expect(s.push(Buffer.from('\x10x'))).toEqual({ forward: Buffer.from('\x10x'), detached: false });
    expect(s.push(Buffer.from('\x10\x10'))).toEqual({ forward: Buffer.from('\x10'), detached: false });
    expect(s.push(Buffer.from('\x11'))).toEqual({ forward: Buffer.alloc(0), detached: true });
  });
});
