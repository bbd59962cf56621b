import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogWriter } from './logs.js';
import type { LogEntry } from './logs.js';
import { RawLogDecoder, RawLogWriter } from './raw-log.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-rawlog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the container wrote, chunk by chunk, as the relay passes it on. */
const chunks: Array<['stdout' | 'stderr', Buffer]> = [
  ['stdout', Buffer.from('one\ntw')],
  ['stderr', Buffer.from('err "quoted" \\ \t\u0001\n')],
  ['stdout', Buffer.from('o\nthree')],
  ['stdout', Buffer.concat([Buffer.from('bad utf-8: '), Buffer.from([0xc3, 0x28, 0xe2, 0x82]), Buffer.from(' é 🚢\n')])],
  ['stdout', Buffer.from(`${'x'.repeat(20_000)}\n`)],
  ['stderr', Buffer.from('unterminated')],
  ['stdout', Buffer.from('\nlast')],
];

function jsonFileEntries(): LogEntry[] {
  const file = path.join(dir, 'container.log');
  const w = new LogWriter(file);
  for (const [s, c] of chunks) w.write(s, c);
  w.end('stdout');
  w.end('stderr');
  w.close();
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as LogEntry);
}

describe('a foreground container\'s raw log (frames, decoded on read)', () => {
  it('decodes into the entries the json-file writer makes of the same output (lines, 16 KiB cuts, U+FFFD, unterminated ends)', async () => {
    const file = path.join(dir, 'container.out');
    const w = new RawLogWriter(file);
    for (const [s, c] of chunks) w.write(s, c);
    await w.close();
    const raw = readFileSync(file);
    const strip = (e: { log: string; stream: string }) => ({ log: e.log, stream: e.stream });
    const expected = jsonFileEntries().map(strip);
    expect(expected.length).toBeGreaterThan(6);

    const d = new RawLogDecoder();
    const whole = [...d.push(raw), ...d.end()];
    expect(whole.map(strip)).toEqual(expected);
    for (const e of whole) expect(Math.abs(Date.parse(e.time) - Date.now())).toBeLessThan(60_000);

    // Fed as a follower reads it: frames cut anywhere wait for their rest.
    const bits = new RawLogDecoder();
    const got: Array<{ log: string; stream: string }> = [];
    for (let i = 0; i < raw.length; i += 7) got.push(...bits.push(raw.subarray(i, i + 7)).map(strip));
    got.push(...bits.end().map(strip));
    expect(got).toEqual(expected);
  });

  it('close() resolves once everything queued is on disk; writes after it are ignored', async () => {
    const file = path.join(dir, 'many.out');
    const w = new RawLogWriter(file);
    const big = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 64; i++) w.write('stdout', big);
    await w.close();
    w.write('stdout', big);
    expect(readFileSync(file).length).toBe(64 * (13 + big.length));
  });
});
