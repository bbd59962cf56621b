import { describe, expect, it } from 'vitest';
import { DEFAULT_DEVICE_RULES, buildDeviceProgram, parseDeviceRule } from './devices.js';

/**
 * A small interpreter for the eBPF subset buildDeviceProgram emits, run on
 * struct bpf_cgroup_dev_ctx { access_type = access << 16 | type; major; minor }.
 * (The kernel's own verdict is checked for real in devices.root.test.ts.)
 */
function run(program: Buffer, dev: { type: 'b' | 'c'; major: number; minor: number; access: string }): number {
  const access = (dev.access.includes('m') ? 1 : 0) | (dev.access.includes('r') ? 2 : 0) | (dev.access.includes('w') ? 4 : 0);
  const ctx = [((access << 16) | (dev.type === 'b' ? 1 : 2)) >>> 0, dev.major, dev.minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; pc < program.length / 8; pc++, steps++) {
    if (steps > 10_000) throw new Error('loop');
    const code = program.readUInt8(pc * 8);
    const regs = program.readUInt8(pc * 8 + 1);
    const dst = regs & 0xf;
    const src = regs >> 4;
    const off = program.readInt16LE(pc * 8 + 2);
    const imm = program.readInt32LE(pc * 8 + 4) >>> 0;
    switch (code) {
      case 0x61: r[dst] = ctx[off / 4] ?? NaN; break;
      case 0x54: r[dst] = ((r[dst] ?? 0) & imm) >>> 0; break;
      case 0x74: r[dst] = (r[dst] ?? 0) >>> imm; break;
      case 0xb4: r[dst] = imm; break;
      case 0xbc: r[dst] = r[src] ?? 0; break;
      case 0x55: if (r[dst] !== imm) pc += off; break;
      case 0x5d: if (r[dst] !== r[src]) pc += off; break;
      case 0x95: return r[0] ?? 0;
      default: throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('fell off the end');
}

describe('device rules', () => {
  it('parses docker rules', () => {
    expect(parseDeviceRule('c 1:3 rwm')).toEqual({ type: 'c', major: 1, minor: 3, access: 'rwm' });
    expect(parseDeviceRule('b *:* m')).toEqual({ type: 'b', major: '*', minor: '*', access: 'm' });
    expect(parseDeviceRule('c 136:* rw')).toEqual({ type: 'c', major: 136, minor: '*', access: 'rw' });
    expect(parseDeviceRule('a')).toEqual({ type: 'a', major: '*', minor: '*', access: 'rwm' });
    expect(() => parseDeviceRule('c 1:3 rx')).toThrow('cgroup: invalid device rule "c 1:3 rx"');
  });
});

describe('buildDeviceProgram', () => {
  const program = buildDeviceProgram(DEFAULT_DEVICE_RULES);

  it("allows docker's devices and denies the rest", () => {
    const allowed = [
      { type: 'c', major: 1, minor: 3, access: 'rw' }, // null
      { type: 'c', major: 1, minor: 9, access: 'r' }, // urandom
      { type: 'c', major: 136, minor: 7, access: 'rw' }, // a pts
      { type: 'c', major: 5, minor: 2, access: 'rw' }, // ptmx
      { type: 'c', major: 10, minor: 200, access: 'rwm' }, // tun
      { type: 'b', major: 8, minor: 0, access: 'm' }, // mknod of a disk is fine...
      { type: 'c', major: 1, minor: 1, access: 'm' },
    ] as const;
    const denied = [
      { type: 'b', major: 8, minor: 0, access: 'r' }, // ...reading it is not
      { type: 'b', major: 8, minor: 0, access: 'w' },
      { type: 'c', major: 1, minor: 1, access: 'r' }, // /dev/mem
      { type: 'c', major: 1, minor: 11, access: 'r' }, // /dev/kmsg
      { type: 'c', major: 4, minor: 0, access: 'rw' }, // tty0
      { type: 'c', major: 10, minor: 237, access: 'rw' }, // loop-control
      { type: 'b', major: 1, minor: 3, access: 'rw' }, // block 1:3 is not char 1:3
    ] as const;
    for (const d of allowed) expect(run(program, d), JSON.stringify(d)).toBe(1);
    for (const d of denied) expect(run(program, d), JSON.stringify(d)).toBe(0);
  });

  it('checks that every requested access is allowed', () => {
    const p = buildDeviceProgram(['c 1:3 r']);
    expect(run(p, { type: 'c', major: 1, minor: 3, access: 'r' })).toBe(1);
    expect(run(p, { type: 'c', major: 1, minor: 3, access: 'rw' })).toBe(0);
    expect(run(p, { type: 'c', major: 1, minor: 3, access: 'w' })).toBe(0);
  });

  it('"a" allows everything; no rules deny everything', () => {
    expect(run(buildDeviceProgram(['a']), { type: 'b', major: 8, minor: 1, access: 'rwm' })).toBe(1);
    expect(run(buildDeviceProgram([]), { type: 'c', major: 1, minor: 3, access: 'r' })).toBe(0);
  });
});
