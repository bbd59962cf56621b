// scripts/setup-system.sh: installs the missing Debian packages of scripts/system-packages.txt
// (as root), says in one line what to do otherwise, and is a no-op when all are there.
// apt-get is a fake on PATH here (it records its arguments): the real one would change
// the machine; what is checked is which packages the script asks for, and when.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, systemPackagesFile, toolsMissing } from '@berth/testing';

const setup = path.join(repoRoot(), 'scripts/setup-system.sh');
const isRoot = process.getuid?.() === 0;
// Debian's dpkg (not something the set-up installs: it is what the set-up runs on).
const dpkgSkip = toolsMissing(['dpkg-query']);
if (dpkgSkip) console.warn(`skipping the set-up tests: ${dpkgSkip}`);

describe.skipIf(!!dpkgSkip)('scripts/setup-system.sh', () => {
  let dir: string;
  let bin: string;
  let calls: string;
  let n = 0;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-setup-test-'));
    chmodSync(dir, 0o755); // read by an unprivileged user below
    bin = path.join(dir, 'bin');
    calls = path.join(dir, 'apt-calls');
    mkdirSync(bin);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the script with `list` as the package list and a fake apt-get that fails its install when `aptFails`. */
  function run(list: string, opts: { aptFails?: boolean; asUser?: number } = {}) {
    rmSync(calls, { force: true });
    const file = path.join(dir, `list-${++n}`);
    writeFileSync(file, list);
    writeFileSync(
      path.join(bin, 'apt-get'),
      `#!/bin/sh\necho "$*" >>${calls}\n` +
        (opts.aptFails ? '[ "$1" = update ] && exit 0\necho "Reading package lists..."\necho "E: Unable to locate package berth-nosuch-pkg"\nexit 100\n' : 'exit 0\n'),
    );
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    const cmd = opts.asUser === undefined ? ['bash', setup] : ['setpriv', `--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', 'bash', setup];
    const res = spawnSync(cmd[0] as string, cmd.slice(1), {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, BERTH_SYSTEM_PACKAGES: file },
    });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr, apt: existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [] };
  }

  it('with every package of the repository list installed, does nothing and never calls apt', () => {
    // The suite runs after the set-up (npm test), so the whole list is installed.
    const r = run(readFileSync(systemPackagesFile(), 'utf8'));
    expect(r).toEqual({ code: 0, stdout: '', stderr: '', apt: [] });
  });

  it.skipIf(!isRoot)('as root, installs only the missing packages, after apt-get update', () => {
    const r = run('# a comment\ncoreutils   ls cat\nberth-nosuch-pkg   nosuch\n');
    expect(r.code).toBe(0);
    expect(r.apt).toEqual(['update -qq', 'install -y -qq --no-install-recommends berth-nosuch-pkg']);
    expect(r.stderr).toBe('setup: installing berth-nosuch-pkg\n');
  });

  it.skipIf(!isRoot)('as root, an apt failure is one line with apt\'s error, exit 1', () => {
    const r = run('coreutils\nberth-nosuch-pkg\n', { aptFails: true });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe('setup: apt-get could not install berth-nosuch-pkg: E: Unable to locate package berth-nosuch-pkg');
  });

  it.skipIf(!isRoot)('not root and something missing: one line naming the packages and the command, exit 1, no apt', () => {
    const r = run('coreutils\nberth-nosuch-pkg\nberth-nosuch-pkg2 tool\n', { asUser: 65534 });
    expect(r.code).toBe(1);
    expect(r.apt).toEqual([]);
    expect(r.stderr).toBe(
      'setup: missing Debian packages berth-nosuch-pkg berth-nosuch-pkg2: run as root, or: sudo apt-get install -y --no-install-recommends berth-nosuch-pkg berth-nosuch-pkg2\n',
    );
  });

  it.skipIf(!isRoot)('npm test (scripts/test.mjs) stops before building and testing when the set-up fails', () => {
    const file = path.join(dir, 'list-for-test-mjs');
    writeFileSync(file, 'berth-nosuch-pkg\n');
    writeFileSync(path.join(bin, 'apt-get'), '#!/bin/sh\n[ "$1" = update ] && exit 0\necho "E: Unable to locate package berth-nosuch-pkg"\nexit 100\n');
    const res = spawnSync(process.execPath, [path.join(repoRoot(), 'scripts/test.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, BERTH_SYSTEM_PACKAGES: file },
    });
    expect(res.status).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n')).toEqual([
      'setup: installing berth-nosuch-pkg',
      'setup: apt-get could not install berth-nosuch-pkg: E: Unable to locate package berth-nosuch-pkg',
      'tests: not run: the system set-up (scripts/setup-system.sh) failed',
    ]);
  });
});
