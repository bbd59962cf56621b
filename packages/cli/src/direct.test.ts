import { describe, expect, it } from 'vitest';
import { DIRECT_COMMANDS, parseDirect, runDirect } from './direct.js';
import { COMMANDS } from './main.js';
import { berth, FakeContext, tempDir } from './test-support/fake-context.js';

/** The options commander parses from `argv` with the command's own declaration (its handler not run). */
async function commanderOptions(argv: readonly string[]): Promise<Record<string, unknown>> {
  const tmp = tempDir();
  try {
    const [name, ...rest] = argv;
    const cmd = COMMANDS[name as keyof typeof COMMANDS](new FakeContext(tmp.dir));
    cmd.action(() => {});
    await cmd.parseAsync(rest, { from: 'user' });
    return { ...cmd.opts() };
  } finally {
    tmp.remove();
  }
}

/** Each flag alone, each value flag in both spellings, and all of a command's flags at once. */
function argvLists(): string[][] {
  const out: string[][] = [];
  for (const [name, command] of Object.entries(DIRECT_COMMANDS)) {
    out.push([name]);
    const all: string[][] = [];
    for (const [flag, what] of Object.entries(command.flags)) {
      const words = 'value' in what ? [flag, 'json'] : [flag];
      out.push([name, ...words]);
      if ('value' in what) out.push([name, `${flag}={{.ID}}`]);
      all.push(words);
    }
    out.push([name, ...all.flat()], [name, ...all.reverse().flat()]);
  }
  return out;
}

describe('direct commands (bin.js without commander)', () => {
  it.each(argvLists().map((a) => [a.join(' '), a]))('"%s" gives the options commander gives', async (_, argv) => {
    const direct = parseDirect(argv as string[]);
    expect(direct?.name).toBe((argv as string[])[0]);
    expect(direct?.opts).toEqual(await commanderOptions(argv as string[]));
  });

  it.each([
    ['images', '--help'],
    ['ps', '-aq'],
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
