/**
 * A foreground container's log, kept cheaply: its output as it passed through the relay, in
 * frames (`container.out`), encoded into docker's json-file entries only when `logs` reads it.
 * Encoding json-file lines on the relay's thread halved its throughput (bench/stdio.mjs); a
 * frame is a 13-byte header in front of the chunk the relay already has, written by libuv's
 * thread pool (an fs.WriteStream), so the relay's thread only queues it.
 *
 * Frame: stream (1 byte: 1 stdout, 2 stderr), time (float64 LE, epoch ms with µs fraction),
 * length (uint32 LE), then that many bytes of output.
 */
import * as fs from 'node:fs';
import { LineCutter } from './log-encode.js';

export const RAW_LOG_FILE = 'container.out';
const HEADER = 13;

export interface RawEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

/** Appends frames to `container.out`; close() resolves once everything queued is written. */
export class RawLogWriter {
  private readonly out: fs.WriteStream;
  private failed = false;
  private readonly finished: Promise<void>;

  constructor(file: string) {
    // Opened synchronously, so that a file that cannot be made fails here (the output is relayed anyway).
    const fd = fs.openSync(file, 'a', 0o640);
    this.out = fs.createWriteStream('', { fd, highWaterMark: 1 << 20 });
    this.finished = new Promise((resolve) => {
      this.out.once('close', resolve);
      // A full disk must not stop the container's output from reaching its reader: logging stops.
      this.out.on('error', () => {
        this.failed = true;
        resolve();
      });
    });
  }

  /** Queues one chunk (kept by reference: a stream's chunks are not reused). */
  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.failed || chunk.length === 0 || this.out.writableEnded) return;
    const header = Buffer.allocUnsafe(HEADER);
    header[0] = stream === 'stdout' ? 1 : 2;
    header.writeDoubleLE(performance.timeOrigin + performance.now(), 1);
    header.writeUInt32LE(chunk.length, 9);
    this.out.write(header);
    this.out.write(chunk);
  }

  /** Ends the file; resolves once all queued frames are on disk (or writing failed). */
  close(): Promise<void> {
    if (!this.out.writableEnded) this.out.end();
    return this.finished;
  }
}

/**
 * Turns `container.out`'s bytes, fed as they are read, into docker's log entries (lines, cut
 * at 16 KiB as the json-file writer cuts them; invalid UTF-8 as U+FFFD), each timed by the
 * frame that completed it. A frame split across two reads waits for the rest.
 */
export class RawLogDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private readonly cutter = new LineCutter();
  /** The time of each stream's last frame: its unterminated last line's, at the end. */
  private readonly last: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };

  push(data: Buffer): RawEntry[] {
    const buf = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const entries: RawEntry[] = [];
    let at = 0;
    while (buf.length - at >= HEADER) {
      const len = buf.readUInt32LE(at + 9);
      if (buf.length - at - HEADER < len) break;
      const stream = buf[at] === 2 ? 'stderr' : 'stdout';
      const time = new Date(buf.readDoubleLE(at + 1)).toISOString();
      const chunk = buf.subarray(at + HEADER, at + HEADER + len);
      this.last[stream] = time;
      this.cutter.push(stream, chunk, (bytes, start, end) => entries.push({ log: bytes.toString('utf8', start, end), stream, time }));
      at += HEADER + len;
    }
    this.pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return entries;
  }

  /** The output ended (the container stopped): each stream's unterminated last line. */
  end(): RawEntry[] {
    const entries: RawEntry[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const time = this.last[stream];
      this.cutter.end(stream, (bytes, start, end) => entries.push({ log: bytes.toString('utf8', start, end), stream, time }));
    }
    return entries;
  }
}
