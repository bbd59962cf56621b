import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FRAME, FrameDecoder, encodeFrames, readExit, resizeFrame } from '../lifecycle/attach-protocol.js';
import type { Frame } from '../lifecycle/attach-protocol.js';
import { AttachServer } from './attach-server.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A client of the server at `file`: what it received (frames) and a promise of its end. */
async function client(file: string): Promise<{ socket: net.Socket; frames: Frame[]; ended: Promise<void> }> {
  const socket = net.connect(file);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const frames: Frame[] = [];
  const d = new FrameDecoder();
  socket.on('data', (c: Buffer) => frames.push(...d.push(c)));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, ended };
}

async function server(openStdin: boolean): Promise<{ s: AttachServer; file: string; stdin: PassThrough; sizes: Array<[number, number]> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-attach-server-'));
  dirs.push(dir);
  const file = path.join(dir, 'attach.sock');
  const s = await AttachServer.listen(file, { openStdin });
  const stdin = new PassThrough();
  const sizes: Array<[number, number]> = [];
  s.startRun({ stdin, resize: (c, r) => sizes.push([c, r]) });
  return { s, file, stdin, sizes };
}

describe('AttachServer (the shim side of berth attach)', () => {
  it('is an owner-only socket; stdin and resize frames reach the run, output and the exit status reach every client', async () => {
    const { s, file, stdin, sizes } = await server(true);
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
    const a = await client(file);
    const b = await client(file);
    const typed = new Promise<string>((resolve) => stdin.once('data', (c: Buffer) => resolve(c.toString())));
    a.socket.write(Buffer.concat([encodeFrames(FRAME.stdin, Buffer.from('hello\n')), resizeFrame(120, 30)]));
    expect(await typed).toBe('hello\n');
    await vi.waitFor(() => expect(sizes).toEqual([[120, 30]]), { timeout: 10_000 });
    s.output('stdout', Buffer.from('out'));
    s.output('stderr', Buffer.from('err'));
    s.endRun(137);
    await Promise.all([a.ended, b.ended]);
    for (const c of [a, b]) {
      expect(c.frames.map((f) => [f.type, f.type === FRAME.exit ? readExit(f.payload) : f.payload.toString()])).toEqual([
        [FRAME.stdout, 'out'],
        [FRAME.stderr, 'err'],
        [FRAME.exit, 137],
      ]);
    }
    s.close();
  });

  it('without openStdin (no -i at creation) a client\'s input is dropped; a client leaving never ends the stdin', async () => {
    const { s, file, stdin } = await server(false);
    const got: Buffer[] = [];
    stdin.on('data', (c: Buffer) => got.push(c));
    const a = await client(file);
    a.socket.end(encodeFrames(FRAME.stdin, Buffer.from('ignored\n')));
    // a's socket closes once the server has read what a sent (and ended its side).
    await a.ended;
    const b = await client(file);
    s.endRun(0);
    await b.ended;
    expect(Buffer.concat(got).toString()).toBe('');
    expect(stdin.writableEnded).toBe(false);
    s.close();
  });

  it('drops a client that sends what is not a frame', async () => {
    const { s, file } = await server(true);
    const a = await client(file);
    a.socket.write(Buffer.from([9, 0, 0, 0, 0]));
    await a.ended;
    s.close();
  });
});
