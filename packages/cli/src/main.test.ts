import { CommanderError } from '@commander-js/extra-typings';
import { describe, expect, it } from 'vitest';
import { COMMANDS, program } from './main.js';
import { berth, FakeContext, tempDir, USAGE_HINT_LINE } from './test-support/fake-context.js';

const HELP_LIST = ['pull', 'images', 'inspect', 'history', 'tag', 'rmi', 'image', 'login', 'logout', 'unpack', 'run', 'create', 'ps', 'start', 'stop', 'restart', 'exec', 'attach', 'wait', 'kill', 'rm', 'logs', 'port', 'pause', 'unpause', 'rename', 'update', 'top', 'stats', 'export', 'diff', 'commit', 'cp', 'container', 'network', 'volume', 'system', 'build', 'builder', 'push', 'save', 'load', 'import', 'version', 'info', 'help'];

const COMMANDS_IN_HELP_ORDER = HELP_LIST.filter((c) => c !== 'help');

describe('berth (main)', () => {
  it('lists every command in its help, in order, on the context stdout', async () => {
    const r = await berth(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const listed = [...r.stdout.split('Commands:\n')[1]!.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
    expect(listed).toEqual(HELP_LIST);
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

  it('each row of COMMANDS is keyed by the name its command declares, with no top-level alias', () => {
    const tmp = tempDir();
    try {
      const ctx = new FakeContext(tmp.dir);
      for (const [name, build] of Object.entries(COMMANDS)) {
        const cmd = build(ctx);
        expect([cmd.name(), cmd.aliases()]).toEqual([name, []]);
      }
    } finally {
      tmp.remove();
    }
  });

  it('declares only the command that runs, and every command for help or a word it does not know', () => {
    const tmp = tempDir();
    try {
      const ctx = new FakeContext(tmp.dir);
      const names = (argv: string[]) => program(ctx, argv).commands.map((c) => c.name());
      expect(names(['images', '-q'])).toEqual(['images']);
      expect(names(['stop', 'x'])).toEqual(['stop']);
      expect(names(['container', 'ls'])).toEqual(['container']);
      for (const argv of [[], ['--help'], ['help', 'images'], ['bogus'], ['-v']]) expect(names(argv)).toEqual(COMMANDS_IN_HELP_ORDER);
    } finally {
      tmp.remove();
    }
  });

  it('help and usage errors of a command are the same whether it alone or every command is declared', async () => {
    const tmp = tempDir();
    try {
      const parse = async (argv: string[], declared: string[]) => {
        const ctx = new FakeContext(tmp.dir);
        const prog = program(ctx, declared);
        const error = await prog.parseAsync(argv, { from: 'user' }).then(
          () => undefined,
          (err: unknown) => (err instanceof CommanderError ? err.code : String(err)),
        );
        return { error, stdout: ctx.stdout.text, stderr: ctx.stderr.text, opened: ctx.opened };
      };
      for (const argv of [['images', '--help'], ['images', '--bogus'], ['stop'], ['ps', 'extra'], ['pull'], ['run', '--help'], ['container', 'ls', '--nope']]) {
        const alone = await parse(argv, argv);
        expect(alone.error, argv.join(' ')).toMatch(/^commander\./);
        expect(alone.opened).toEqual([]);
        expect(alone, argv.join(' ')).toEqual(await parse(argv, []));
      }
    } finally {
      tmp.remove();
    }
  });
});
