import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { overridesFrom } from '../actions/run.js';
import { berth, FakeContext, tempDir, USAGE_HINT_LINE } from '../test-support/fake-context.js';
import { runCommand } from './run.js';

/** The flags and arguments of `berth run` as its declaration parses them, without running anything. */
function parse(argv: string[]) {
  const tmp = tempDir();
  try {
    const cmd = runCommand(new FakeContext(tmp.dir)).action(() => undefined);
    cmd.parse(argv, { from: 'user' });
    const [image, command] = cmd.processedArgs;
    return { opts: cmd.opts(), image, command };
  } finally {
    tmp.remove();
  }
}

describe('berth run: flags to RunOverrides', () => {
  it('maps every container flag to its RunOverrides field, -v to volumes, repeatable flags to lists', () => {
    const { opts, image, command } = parse([
      '-i', '-t', '-d', '--rm', '--name', 'web', '-e', 'A=1', '-e', 'B', '--env-file', 'f1', '--env-file', 'f2',
      '-w', '/srv', '-u', '1000:1000', '-h', 'box', '--entrypoint', '/bin/sh', '--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL',
      '--privileged', '--security-opt', 'no-new-privileges', '-m', '512m', '--memory-swap', '1g', '--cpus', '1.5',
      '--pids-limit', '100', '-v', '/a:/b:ro', '-v', '/c:/d', '--tmpfs', '/tmp', '--read-only', '--network', 'host',
      '--init', '--ulimit', 'nofile=10:20', '--platform', 'linux/amd64', '-q',
      'alpine', 'echo', '-n', 'hi',
    ]);
    expect(image).toBe('alpine');
    expect(command).toEqual(['echo', '-n', 'hi']);
    expect(overridesFrom(opts, command ?? [])).toEqual({
      cmd: ['echo', '-n', 'hi'],
      tty: true,
      env: ['A=1', 'B'],
      envFile: ['f1', 'f2'],
      workdir: '/srv',
      user: '1000:1000',
      hostname: 'box',
      entrypoint: '/bin/sh',
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      privileged: true,
      securityOpt: ['no-new-privileges'],
      memory: '512m',
      memorySwap: '1g',
      cpus: '1.5',
      pidsLimit: '100',
      volumes: ['/a:/b:ro', '/c:/d'],
      tmpfs: ['/tmp'],
      readOnly: true,
      network: 'host',
      init: true,
      ulimit: ['nofile=10:20'],
    });
  });

  it('no flags, no command: no overrides (the image decides); an empty --entrypoint is kept', () => {
    expect(overridesFrom(parse(['alpine']).opts, [])).toEqual({});
    expect(overridesFrom(parse(['--entrypoint', '', 'alpine']).opts, [])).toEqual({ entrypoint: '' });
  });

  it('flags after the image belong to the container command', () => {
    const { opts, command } = parse(['alpine', 'ls', '--rm', '-q']);
    expect(command).toEqual(['ls', '--rm', '-q']);
    expect(opts.rm).toBeUndefined();
    expect(opts.quiet).toBeUndefined();
  });
});

describe('berth run: failures', () => {
  it.each([
    [['run', '--network', 'bogus', 'alpine'], 'berth: network "bogus" not found (berth network ls lists them)\n'],
    [['run', '-p', '80:80:80', 'alpine'], /^berth: invalid publish spec "80:80:80": [^\n]*\n$/],
    [['run', '--network', 'host', '-p', '8080:80', 'alpine'], 'berth: -p/--publish needs a bridge network: --network host has no ports to publish\n'],
    [['run', '--ip', '10.88.0.9', 'alpine'], 'berth: invalid --ip "10.88.0.9": a chosen address needs a user-defined network (--network NAME)\n'],
    [['run', '--ip', '10.88.0.300', '--network', 'bogus', 'alpine'], 'berth: invalid --ip "10.88.0.300": not an IPv4 address\n'],
    [['run', '--mac-address', '01:00:5e:00:00:01', 'alpine'], 'berth: --mac-address: 01:00:5e:00:00:01 is a multicast MAC address\n'],
    [['run', '--mac-address', 'nope', 'alpine'], 'berth: --mac-address: "nope" is not a MAC address (xx:xx:xx:xx:xx:xx)\n'],
    [['run', '--network-alias', 'db', 'alpine'], 'berth: --network-alias: network-scoped aliases are only supported on user-defined networks\n'],
    [['run', '--add-host', 'nocolon', 'alpine'], 'berth: invalid --add-host "nocolon": expected NAME:IP\n'],
    [['run', '--network', 'none', '--net', 'host', 'alpine'], 'berth: conflicting options: --network "none" and --net "host"\n'],
    [['run', '--memory', 'lots', 'alpine'], /^berth: [^\n]*memory[^\n]*\n$/],
    [['run', '--name', 'bad name!', 'alpine'], /^berth: [^\n]*name[^\n]*\n$/],
    [['run', '--ulimit', 'nosuch=1', 'alpine'], /^berth: [^\n]*ulimit[^\n]*\n$/],
  ])('%j exits 125 with one line, before any image is looked up or copied', async (argv, line) => {
    const tmp = tempDir();
    try {
      const r = await berth(argv, { dir: tmp.dir });
      expect(r.code).toBe(125);
      expect(r.stdout).toBe('');
      if (typeof line === 'string') expect(r.stderr).toBe(line);
      else expect(r.stderr).toMatch(line);
      expect(r.ctx.opened).toEqual([]);
      expect(readdirOr(path.join(tmp.dir, 'root', 'containers'))).toEqual([]);
    } finally {
      tmp.remove();
    }
  });

  it('a missing image argument or an unknown flag before it exits 125, as docker exits for every run failure of its own (#13)', async () => {
    const none = await berth(['run']);
    expect([none.code, none.stderr]).toEqual([125, `berth: missing required argument 'image'\n${USAGE_HINT_LINE}`]);
    const bad = await berth(['run', '--bogus', 'alpine']);
    expect([bad.code, bad.stderr]).toEqual([125, `berth: unknown option '--bogus'\n${USAGE_HINT_LINE}`]);
  });

  it('-h is --hostname, so its help is only --help', async () => {
    const r = await berth(['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: berth run [options] IMAGE [COMMAND [ARG...]]\n');
    expect(r.stdout).toContain('  -h, --hostname <name>  ');
    expect(r.stdout).toContain('  --help                              display help for command\n');
  });
});

function readdirOr(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
