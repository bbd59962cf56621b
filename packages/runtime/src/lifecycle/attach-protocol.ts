import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';

/**
 * The attach socket of a detached container (`<state>/<id>/attach.sock`, served by its shim):
 * frames both ways, `[type u8][length u32 BE][payload]`. To the shim: `stdin` bytes (taken
 * only when the container was created with `-i`) and `resize` (u16 columns, u16 rows: the
 * terminal's size, with `-t`). From the shim: the container's `stdout`/`stderr` from the
 * moment of the connection, raw (with `-t`, all of the terminal's output is `stdout`), then
 * one `exit` frame (i32 exit status) when the run ends; the shim then closes the connection.
 */
export const ATTACH_SOCKET = 'attach.sock';

export const FRAME = { stdin: 0, stdout: 1, stderr: 2, resize: 3, exit: 4 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export interface Frame {
  type: FrameType;
  payload: Buffer;
}

const HEADER = 5;
/** A frame's payload is at most this (a larger write is cut into several frames). */
export const MAX_PAYLOAD = 1 << 20;

/** One or more frames of `type` carrying `payload` (cut at MAX_PAYLOAD). */
export function encodeFrames(type: FrameType, payload: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  do {
    const piece = payload.subarray(at, at + MAX_PAYLOAD);
    const header = Buffer.alloc(HEADER);
    header.writeUInt8(type, 0);
    header.writeUInt32BE(piece.length, 1);
    parts.push(header, piece);
    at += piece.length;
  } while (at < payload.length);
  return Buffer.concat(parts);
}

export function resizeFrame(columns: number, rows: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt16BE(Math.max(1, Math.min(columns, 0xffff)), 0);
  p.writeUInt16BE(Math.max(1, Math.min(rows, 0xffff)), 2);
  return encodeFrames(FRAME.resize, p);
}

export function exitFrame(exitCode: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeInt32BE(exitCode, 0);
  return encodeFrames(FRAME.exit, p);
}

/** Reads a resize frame's payload; undefined when it is malformed. */
export function readResize(payload: Buffer): { columns: number; rows: number } | undefined {
  if (payload.length !== 4) return undefined;
  return { columns: payload.readUInt16BE(0), rows: payload.readUInt16BE(2) };
}

/** Reads an exit frame's payload; undefined when it is malformed. */
export function readExit(payload: Buffer): number | undefined {
  return payload.length === 4 ? payload.readInt32BE(0) : undefined;
}

/** Cuts a byte stream into frames (chunks may split frames anywhere). A bad frame type or length throws. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  *push(chunk: Buffer): Generator<Frame> {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER) {
      const type = this.pending.readUInt8(0);
      const length = this.pending.readUInt32BE(1);
      if (type > FRAME.exit || length > MAX_PAYLOAD) throw new BerthError('EINVAL_ARGUMENT', `attach socket: bad frame (type ${type}, length ${length})`);
      if (this.pending.length < HEADER + length) return;
      const payload = this.pending.subarray(HEADER, HEADER + length);
      this.pending = this.pending.subarray(HEADER + length);
      yield { type: type as FrameType, payload };
    }
  }
}

/**
 * A unix socket address for `file`: the path itself when it fits sun_path (108 bytes), else
 * `/proc/self/fd/N/<name>` through a descriptor of its directory (conmon's way), kept open
 * until `release()`.
 */
export function socketAddress(file: string): { path: string; release(): void } {
  if (Buffer.byteLength(file) < 100) return { path: file, release: () => undefined };
  const fd = fs.openSync(path.dirname(file), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  return {
    path: `/proc/self/fd/${fd}/${path.basename(file)}`,
    release: () => {
      try {
        fs.closeSync(fd);
      } catch {
        // Closed already.
      }
    },
  };
}
