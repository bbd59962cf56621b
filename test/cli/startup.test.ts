import { describe, expect, it } from 'vitest';
import { berth, sandbox } from '../helpers/cli.js';

// The built bin's start-up paths (issue #14): `--version` is answered by bin.js without loading the
// CLI, and each other command declares only itself. Both must behave as the full CLI does.
describe('berth bin start-up paths', () => {
  it('--version and -v print the version as commander does, and the same as `berth -v` with another word', async () => {
    const box = await sandbox();
    try {
      for (const flag of ['--version', '-v']) expect(await berth([flag], { env: box.env })).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
      // Two words: not bin.js's shortcut; commander's version option still answers first.
      expect(await berth(['-v', 'images'], { env: box.env })).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
      const version = await berth(['version', '--format', 'json'], { env: box.env });
      expect(version.code).toBe(0);
      expect((JSON.parse(version.stdout) as { Client: { Version: string } }).Client.Version).toBe('0.1.0');
    } finally {
      await box.cleanup();
    }
  });

  it('a command alone runs, and an unknown word or help still sees every command', async () => {
    const box = await sandbox();
    try {
      const images = await berth(['images', '-q'], { env: box.env });
      expect(images).toEqual({ code: 0, stdout: '', stderr: '' });
      const bogus = await berth(['imagess'], { env: box.env });
      expect(bogus.code).toBe(2);
      expect(bogus.stderr).toContain("unknown command 'imagess'\n(Did you mean images?)");
      const help = await berth(['--help'], { env: box.env });
      expect(help.code).toBe(0);
      for (const name of ['pull', 'images', 'run', 'ps', 'stop', 'container', 'info']) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    } finally {
      await box.cleanup();
    }
  });

  it('images and ps with their own flags run without commander, and answer as the declared commands do', async () => {
    const box = await sandbox();
    try {
      expect(await berth(['ps', '-a', '--format', 'json'], { env: box.env })).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      expect(await berth(['ps', '--all', '--quiet'], { env: box.env })).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(await berth(['images', '--format=json', '--no-trunc'], { env: box.env })).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      // A usage error found by the handler: the same line and hint as through commander.
      expect(await berth(['images', '--format', 'yaml'], { env: box.env })).toEqual({ code: 2, stdout: '', stderr: 'berth: invalid --format "yaml": expected "table" or "json"\n(run "berth --help" for usage)\n' });
      // Not a direct command's flags: commander parses them (combined flags, help, unknown options).
      expect(await berth(['ps', '-aq'], { env: box.env })).toEqual({ code: 0, stdout: '', stderr: '' });
      expect((await berth(['images', '--help'], { env: box.env })).stdout).toMatch(/^Usage: berth images \[options\]/);
      const unknown = await berth(['ps', '--bogus'], { env: box.env });
      expect([unknown.code, unknown.stderr]).toEqual([2, "berth: unknown option '--bogus'\n(run \"berth --help\" for usage)\n"]);
    } finally {
      await box.cleanup();
    }
  });
});
