import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedImagesDir } from '@berth/testing';
import { DIRECT_COMMANDS } from '../../packages/cli/src/direct.js';
import { berth, repo, sandbox, type BerthResult } from '../helpers/cli.js';

const installedBin = path.join(repo, 'packages/cli/bin/berth.js');
const images = sharedImagesDir();

/** The installed bin (bin/berth.js, CommonJS); with `debug`, Node's module loaders log each file they load to stderr (NODE_DEBUG). */
function installed(args: string[], env: NodeJS.ProcessEnv, opts: { debug?: boolean } = {}): Promise<BerthResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--', installedBin, ...args], { env: { ...process.env, CI: '1', ...env, ...(opts.debug ? { NODE_DEBUG: 'module,esm' } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

/** What the installed bin's run loaded: the CommonJS file of `command`, and whether the ES module loader ran. */
async function loaded(args: string[], env: NodeJS.ProcessEnv): Promise<{ cjs: boolean; esm: boolean }> {
  const log = (await installed(args, env, { debug: true })).stderr;
  return { cjs: new RegExp(`^MODULE \\d+: load ".*[\\\\/]dist[\\\\/]direct[\\\\/]${args[0]}\\.cjs"`, 'm').test(log), esm: /^ESM \d+: /m.test(log) };
}

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
      // Short flags together: as commander reads them.
      expect(await berth(['ps', '-aq'], { env: box.env })).toEqual({ code: 0, stdout: '', stderr: '' });
      // Not a direct command's flags: commander parses them (help, unknown options).
      expect((await berth(['images', '--help'], { env: box.env })).stdout).toMatch(/^Usage: berth images \[options\]/);
      const unknown = await berth(['ps', '--bogus'], { env: box.env });
      expect([unknown.code, unknown.stderr]).toEqual([2, "berth: unknown option '--bogus'\n(run \"berth --help\" for usage)\n"]);
    } finally {
      await box.cleanup();
    }
  });

  it.skipIf(!images)('the installed bin runs images, ps and exec from their CommonJS files, without the ES module loader, and answers as the ES module CLI does', async () => {
    const box = await sandbox();
    try {
      expect((await berth(['load', '-q', '-i', path.join(images as string, 'alpine'), '--repository', 'docker.io/library/alpine'], { env: box.env })).code).toBe(0);
      const cases: { args: string[]; cjs: boolean }[] = [
        ...[['images'], ['images', '-q'], ['images', '--digests', '--no-trunc'], ['images', '--format', 'json'], ['images', '--format={{.Repository}}:{{.Tag}}'], ['images', '--format', 'yaml']].map((args) => ({ args, cjs: true })),
        ...[['ps'], ['ps', '-a', '--format', 'json'], ['ps', '--all', '-q'], ['ps', '-aq']].map((args) => ({ args, cjs: true })),
        ...[['exec', 'nosuch', 'true'], ['exec', '-i', '-e', 'A=1', 'nosuch', 'sh', '-c', 'true']].map((args) => ({ args, cjs: true })),
        // Not a direct argument list: the CommonJS file hands it to dist/bin.js (commander).
        ...[['images', '--help'], ['ps', '-ax'], ['ps', '--bogus'], ['images', 'alpine'], ['exec', 'nosuch'], ['exec', '--help']].map((args) => ({ args, cjs: false })),
      ];
      for (const { args, cjs } of cases) {
        expect(await installed(args, box.env), args.join(' ')).toEqual(await berth(args, { env: box.env }));
        // A direct argument list never starts the ES module loader; any other goes on to dist/bin.js.
        expect(await loaded(args, box.env), args.join(' ')).toEqual({ cjs: true, esm: !cjs });
      }
      expect((await installed(['images'], box.env)).stdout).toMatch(/^alpine +latest /m);
      // Every direct command has its file and the bin sends it there; other commands go to dist/bin.js.
      const sample: Record<string, string[]> = { images: ['-q'], ps: ['-q'], exec: ['nosuch', 'true'] };
      for (const name of Object.keys(DIRECT_COMMANDS)) expect(await loaded([name, ...(sample[name] ?? [])], box.env), name).toEqual({ cjs: true, esm: false });
      expect(await loaded(['version'], box.env)).toEqual({ cjs: false, esm: true });
      expect(await installed(['--version'], box.env)).toMatchObject({ code: 0, stdout: '0.1.0\n', stderr: '' });
    } finally {
      await box.cleanup();
    }
  });

  it.skipIf(process.getuid?.() !== 0)('ps from its CommonJS file sweeps as the ES module CLI does when the survey finds work (the runtime loads from its package)', async () => {
    const box = await sandbox();
    try {
      const state = box.env['BERTH_STATE'] as string;
      // A half-deleted state directory of a process that cannot exist (pids stay below 2^22).
      const leftover = path.join(state, `.gone-${'ab'.repeat(32)}-${2 ** 22 + 7}`);
      await mkdir(path.join(leftover, 'sub'), { recursive: true });
      await writeFile(path.join(leftover, 'sub', 'file'), 'x');
      const viaBin = await installed(['ps', '-a'], box.env);
      expect(viaBin).toEqual({ code: 0, stdout: 'CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n', stderr: '' });
      expect(existsSync(leftover)).toBe(false);
      expect(await installed(['ps', '-a'], box.env)).toEqual(viaBin);
    } finally {
      await box.cleanup();
    }
  });
  it('run as a program, the bin starts the direct commands without NODE_EXTRA_CA_CERTS, every other with it, and passes every argument', async () => {
    const box = await sandbox();
    try {
      // Node warns at start-up when that file cannot be read: the warning says whether it was set.
      const env = { ...process.env, CI: '1', ...box.env, NODE_EXTRA_CA_CERTS: path.join(box.dir, 'no-such-ca.pem') };
      const run = (args: string[]) => spawnSync(installedBin, args, { encoding: 'utf8', env, timeout: 60_000 });
      expect(run(['ps', '-aq'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(run(['images', '--format', 'json'])).toMatchObject({ status: 0, stdout: '[]\n', stderr: '' });
      // A word with spaces and quotes reaches the command whole.
      const arg = 'no such "container"';
      const exec = run(['exec', arg, 'true']);
      expect(exec.status).toBe(125);
      expect(exec.stderr).toBe(`berth: find container ${arg}: no such container\n`);
      // Every direct command's name is in the shell line (an unknown flag: commander's usage error).
      for (const name of Object.keys(DIRECT_COMMANDS)) expect(run([name, '--bogus']).stderr, name).toBe("berth: unknown option '--bogus'\n(run \"berth --help\" for usage)\n");
      // `version` may be followed by commands that pull: the certificates stay.
      const version = run(['version']);
      expect(version.status).toBe(0);
      expect(version.stderr).toContain('no-such-ca.pem');
    } finally {
      await box.cleanup();
    }
  });
});

