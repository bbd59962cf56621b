import { describe, expect, it } from 'vitest';
import { DIRECT_COMMANDS, parseDirect, runDirect } from './direct.js';
import { COMMANDS } from './main.js';
import { berth, FakeContext, tempDir } from './test-support/fake-context.js';

/** The options and operands commander parses from `argv` with the command's own declaration (its handler not run). */
async function commanderParse(argv: readonly string[]): Promise<{ opts: Record<string, unknown>; operands: string[] }> {
  const tmp = tempDir();
  try {
    const [name, ...rest] = argv;
    const cmd = COMMANDS[name as keyof typeof COMMANDS](new FakeContext(tmp.dir));
    let operands: string[] = [];
    // The handler gets the declared arguments, then the options and the command.
    cmd.action((...args: unknown[]) => {
      operands = args.slice(0, -2).flatMap((a) => (a === undefined ? [] : Array.isArray(a) ? (a as string[]) : [a as string]));
    });
    await cmd.parseAsync(rest, { from: 'user' });
    return { opts: { ...cmd.opts() }, operands };
  } finally {
    tmp.remove();
  }
}

/** Operands for a command that needs them: a container and a command whose own flags are not berth's. */
const OPERANDS = ['c1', 'sh', '-c', 'echo -e x'];

/** Each flag alone, each value flag in both spellings, all of a command's flags at once, and a value flag twice. */
function argvLists(): string[][] {
  const out: string[][] = [];
  for (const [name, command] of Object.entries(DIRECT_COMMANDS)) {
    const operands = command.operands === undefined ? [] : OPERANDS;
    const list = (...words: string[]): string[] => [name, ...words, ...operands];
    out.push(list());
    const all: string[][] = [];
    for (const [flag, what] of Object.entries(command.flags)) {
      const words = 'value' in what ? [flag, 'json'] : [flag];
      out.push(list(...words));
      if ('value' in what) out.push(list(...words, flag, 'two'));
      if ('value' in what && flag.startsWith('--')) out.push(list(`${flag}={{.ID}}`));
      all.push(words);
    }
    out.push(list(...all.flat()), list(...all.reverse().flat()));
  }
  // Short flags together, as commander reads them.
  out.push(['ps', '-aq'], ['exec', '-it', ...OPERANDS], ['exec', '-dit', '-e', 'A=1', ...OPERANDS]);
  return out;
}

describe('direct commands (bin.js without commander)', () => {
  it.each(argvLists().map((a) => [a.join(' '), a]))('"%s" gives the options and operands commander gives', async (_, argv) => {
    const direct = parseDirect(argv as string[]);
    expect(direct?.name).toBe((argv as string[])[0]);
    expect({ opts: direct?.opts, operands: direct?.operands }).toEqual(await commanderParse(argv as string[]));
  });

  it.each([
    ['images', '--help'],
    ['ps', '-ax'],
    ['images', '-q=1'],
    ['exec', 'c1'],
    ['exec', '-e'],
    ['exec', '-ie', 'A=1', 'c1', 'true'],
    ['exec', '--', 'c1', 'true'],
    ['exec', '--help'],
    ['exec', '-x', 'c1', 'true'],
    ['ps', 'extra'],
    ['ps', '--'],
    ['ps', '--all=1'],
    ['images', '--format'],
    ['images', '-x'],
    ['image', 'ls'],
    ['pull', 'alpine'],
    [],
  ])('leaves %j to main() and commander', (...argv) => {
    expect(parseDirect(argv)).toBeUndefined();
  });

  it("fails as main() does: the same exit code and lines (a bad --format is a usage error)", async () => {
    const tmp = tempDir();
    try {
      const ctx = new FakeContext(tmp.dir);
      const code = await runDirect(parseDirect(['images', '--format', 'yaml'])!, ctx);
      const viaMain = await berth(['images', '--format', 'yaml']);
      expect([code, ctx.stdout.text, ctx.stderr.text]).toEqual([viaMain.code, viaMain.stdout, viaMain.stderr]);
      expect(code).toBe(2);
    } finally {
      tmp.remove();
    }
  });

  it('exec fails as main() does: the same exit code and lines (no such container: 125)', async () => {
    const tmp = tempDir();
    try {
      const argv = ['exec', '-i', 'nosuch', 'true'];
      const ctx = new FakeContext(tmp.dir);
      const code = await runDirect(parseDirect(argv)!, ctx);
      const viaMain = await berth(argv, { dir: tmp.dir });
      expect([code, ctx.stdout.text, ctx.stderr.text]).toEqual([viaMain.code, viaMain.stdout, viaMain.stderr]);
      expect(code).toBe(125);
    } finally {
      tmp.remove();
    }
  });

  it('lists what main() lists (an empty store: the header only)', async () => {
    const tmp = tempDir();
    try {
      for (const argv of [['images'], ['images', '--format', 'json'], ['ps', '-a']]) {
        const ctx = new FakeContext(tmp.dir);
        const code = await runDirect(parseDirect(argv)!, ctx);
        const viaMain = await berth(argv, { dir: tmp.dir });
        expect([code, ctx.stdout.text, ctx.stderr.text]).toEqual([viaMain.code, viaMain.stdout, viaMain.stderr]);
      }
    } finally {
      tmp.remove();
    }
  });
});
