import { describe, expect, it } from 'vitest';
import { berth, USAGE_HINT_LINE } from './testing/fake-context.js';

const COMMANDS = ['pull', 'images', 'inspect', 'history', 'tag', 'rmi', 'image', 'login', 'logout', 'unpack', 'run', 'ps', 'stop', 'kill', 'rm', 'logs', 'port', 'pause', 'unpause', 'rename', 'update', 'top', 'stats', 'export', 'diff', 'commit', 'cp', 'container', 'network', 'volume', 'system', 'build', 'builder', 'push', 'save', 'load', 'import', 'version', 'info', 'help'];

describe('berth (main)', () => {
  it('lists every command in its help, in order, on the context stdout', async () => {
    const r = await berth(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const listed = [...r.stdout.split('Commands:\n')[1]!.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
    expect(listed).toEqual(COMMANDS);
  });

  it('prints the help on stderr without a command (exit 0, as commander does) and the version with -v', async () => {
    const none = await berth([]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^Usage: berth \[options\] \[command\]\n/);
    const v = await berth(['-v']);
    expect([v.code, v.stdout]).toEqual([0, '0.1.0\n']);
  });

  it('an unknown command is a usage error: exit 2, one line, a suggestion and the hint on stderr', async () => {
    const r = await berth(['bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`berth: unknown command 'bogus'\n(Did you mean logs?)\n${USAGE_HINT_LINE}`);
    expect(r.ctx.opened).toEqual([]);
  });

  it.each(['pull', 'images', 'run', 'ps', 'container prune', 'system prune', 'image ls', 'build', 'load'])('"%s --help" exits 0 with its usage on stdout', async (cmd) => {
    const r = await berth([...cmd.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: berth ${cmd} `));
    expect(r.stderr).toBe('');
  });

  it('a group without a subcommand prints its help on stderr', async () => {
    const r = await berth(['container']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Commands:\n  ls \[options\] +List containers\n/);
  });
});
