import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHooks, runHooks } from './hooks.js';
import type { HookState } from './hooks.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hooks-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const state: HookState = { ociVersion: '1.2.0', id: 'c1', status: 'creating', pid: 123, bundle: '/b', annotations: { a: 'b' } };

describe('runHooks', () => {
  it('runs each hook with the state on stdin, its argv (argv[0] included) and only its env, in order', () => {
    const out = path.join(dir, 'out');
    // argv[0] read back from /proc; $0 and $1 are sh -c's arguments after the script.
    const script = `cat > ${out}.$1; echo "$(tr '\\0' '\\n' < /proc/$$/cmdline | head -n 1) $0 $1 $V \${HOME:-nohome}" >> ${out}.log`;
    runHooks(
      'createRuntime',
      [
        { path: '/bin/sh', args: ['first', '-c', script, 'zero', 'one'], env: ['V=v1', 'PATH=/usr/bin:/bin'] },
        { path: '/bin/sh', args: ['second', '-c', script, 'zero', 'two'], env: ['V=v2', 'PATH=/usr/bin:/bin'], timeout: 10 },
      ],
      state,
    );
    expect(JSON.parse(fs.readFileSync(`${out}.one`, 'utf8'))).toEqual(state);
    expect(fs.readFileSync(`${out}.log`, 'utf8')).toBe('first zero one v1 nohome\nsecond zero two v2 nohome\n');
  });

  it('fails at the first hook that exits non-zero, is killed or times out, quoting its last line of output', () => {
    expect(() => runHooks('prestart', [{ path: '/bin/sh', args: ['sh', '-c', 'echo one; echo it broke >&2; exit 3'] }, { path: '/nonexistent' }], state)).toThrow(
      'prestart hook #0 (/bin/sh): exit status 3: it broke',
    );
    expect(() => runHooks('prestart', [{ path: '/bin/true' }, { path: '/nonexistent' }], state)).toThrow('prestart hook #1 (/nonexistent): ENOENT');
    expect(() => runHooks('createContainer', [{ path: '/bin/sh', args: ['sh', '-c', 'kill -TERM $$'] }], state)).toThrow('createContainer hook #0 (/bin/sh): killed by SIGTERM');
    expect(() => runHooks('startContainer', [{ path: '/bin/sleep', args: ['sleep', '20'], timeout: 1 }], state)).toThrow('startContainer hook #0 (/bin/sleep): timed out after 1s');
  });
});

describe('checkHooks', () => {
  it('keeps the non-empty lists and refuses malformed hooks or unknown kinds', () => {
    expect(checkHooks(undefined)).toEqual({});
    expect(checkHooks({ prestart: [], poststop: [{ path: '/x', args: ['x'], timeout: 2 }] })).toEqual({ poststop: [{ path: '/x', args: ['x'], timeout: 2 }] });
    expect(() => checkHooks({ prestart: [{ path: 'x' }] })).toThrow('hooks.prestart[0].path must be an absolute path');
    expect(() => checkHooks({ poststart: [{ path: '/x', env: 'A=1' }] })).toThrow('hooks.poststart[0].env must be an array of strings');
    expect(() => checkHooks({ prestop: [] })).toThrow('hooks.prestop is not supported');
  });
});
