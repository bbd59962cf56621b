import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAME, FrameDecoder, MAX_PAYLOAD, encodeFrames, exitFrame, readExit, readResize, resizeFrame, socketAddress } from './attach-protocol.js';

describe('attach socket frames', () => {
  it('round-trip through the decoder, whatever the chunking', () => {
    const bytes = Buffer.concat([encodeFrames(FRAME.stdout, Buffer.from('hello\n')), resizeFrame(120, 30), exitFrame(137), encodeFrames(FRAME.stdin, Buffer.alloc(0))]);
    for (const step of [1, 3, 7, bytes.length]) {
      const d = new FrameDecoder();
      const frames = [];
      for (let at = 0; at < bytes.length; at += step) frames.push(...d.push(bytes.subarray(at, at + step)));
      expect(frames.map((f) => f.type)).toEqual([FRAME.stdout, FRAME.resize, FRAME.exit, FRAME.stdin]);
      expect(frames[0]?.payload.toString()).toBe('hello\n');
      expect(readResize(frames[1]?.payload as Buffer)).toEqual({ columns: 120, rows: 30 });
      expect(readExit(frames[2]?.payload as Buffer)).toBe(137);
      expect(frames[3]?.payload.length).toBe(0);
    }
  });
  it('cuts a large payload into frames of at most MAX_PAYLOAD', () => {
    const big = Buffer.alloc(MAX_PAYLOAD + 10, 7);
    const frames = [...new FrameDecoder().push(encodeFrames(FRAME.stderr, big))];
    expect(frames.map((f) => f.payload.length)).toEqual([MAX_PAYLOAD, 10]);
  });
  it('refuses a frame it does not know', () => {
    const bad = Buffer.from([9, 0, 0, 0, 0]);
    expect(() => [...new FrameDecoder().push(bad)]).toThrow(/bad frame \(type 9/);
  });
  it('reaches a socket in a directory too deep for sun_path through /proc/self/fd', () => {
    expect(socketAddress('/run/berth/x/attach.sock').path).toBe('/run/berth/x/attach.sock');
    const deep = path.join(mkdtempSync(path.join(tmpdir(), 'berth-attach-')), 'd'.repeat(120));
    mkdirSync(deep);
    try {
      writeFileSync(path.join(deep, 'attach.sock'), 'x');
      const a = socketAddress(path.join(deep, 'attach.sock'));
      expect(a.path).toMatch(/^\/proc\/self\/fd\/\d+\/attach\.sock$/);
      expect(readFileSync(a.path, 'utf8')).toBe('x');
      a.release();
    } finally {
      rmSync(path.dirname(deep), { recursive: true, force: true });
    }
  });
});
