import { describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { ExecveReached, MS_BIND, RecordingSyscalls, SysError } from './index.js';

describe('RecordingSyscalls', () => {
  it('records calls in order with their arguments', () => {
    const sys = new RecordingSyscalls();
    sys.unshare(0x20000);
    sys.mount('/a', '/b', null, MS_BIND, null);
    sys.close(3);
    expect(sys.names()).toEqual(['unshare', 'mount', 'close']);
    expect(sys.callsOf('mount')).toEqual([['/a', '/b', null, MS_BIND, null]]);
  });

  it('fails scripted calls with a SysError, only those matching and only `times` times', () => {
    const sys = new RecordingSyscalls({ failures: [{ call: 'mount', errno: 'EPERM', when: (a) => a[1] === '/x', times: 1 }] });
    sys.mount(null, '/y', null, 0, null);
    let caught: unknown;
    try {
      sys.mount(null, '/x', null, 0, null);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysError);
    expect(isBerthError(caught, 'ESYSCALL')).toBe(true);
    expect((caught as SysError).message).toBe('mount /x: EPERM');
    expect(() => sys.mount(null, '/x', null, 0, null)).not.toThrow();
  });

  it('keeps a fake file system and ends execve by throwing ExecveReached', () => {
    const sys = new RecordingSyscalls({ files: { '/bin': 'dir', '/bin/sh': { content: '#!', mode: 0o755 }, '/l': { symlink: '/bin' } } });
    expect(sys.stat('/l').kind).toBe('dir');
    expect(sys.lstat('/l').kind).toBe('symlink');
    expect(sys.stat('/bin/sh').mode).toBe(0o755);
    expect(() => sys.lstat('/nope')).toThrow('lstat /nope: ENOENT');
    sys.mkdir('/d', 0o700);
    expect(() => sys.mkdir('/d', 0o700)).toThrow('mkdir /d: EEXIST');
    expect(() => sys.execve('/bin/sh', ['sh'], [])).toThrow(ExecveReached);
  });
});
