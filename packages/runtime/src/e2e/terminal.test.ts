/**
 * The container terminal end to end: a real pty session driven through tmux
 * (a real terminal on the host side), running the runtime's minimal runner.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolsMissing } from '@berth/testing';
import { Runtime } from '../runtime.js';
import { e2eUnavailable, ensureEntrypoints, packageRoot, removeAllContainers, tempDir, unpackImage, until } from '../test-support/fixtures.js';

const unavailable = e2eUnavailable() ?? toolsMissing(['tmux']);
if (unavailable) console.warn(`skipping terminal tests: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('container terminal (-t -i) through tmux', () => {
  let dir: string;
  const socket = `berth-rt-${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  const screen = (): string => tmux('capture-pane', '-p', '-t', 'c');

  beforeAll(() => {
    ensureEntrypoints();
    dir = tempDir('tty');
    const alpine = unpackImage('alpine', dir);
    const configFile = path.join(dir, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(alpine.config));
    const run = path.join(packageRoot, 'dist', 'tools', 'run.js');
    // busybox ash's line editing asks the terminal where the cursor is (ESC [6n) after each
    // prompt, and keys typed before the answer comes back can be lost: the tests type at
    // once, so the shell edits in the terminal's own (cooked) mode instead.
    fs.writeFileSync(path.join(alpine.rootfs, 'etc', 'berth-test-noedit'), 'set +o emacs; set +o vi\n');
    const script = [
      `stty -g > ${dir}/stty.before`,
      `${process.execPath} ${run} --rootfs ${alpine.rootfs} --state ${dir}/state --rm -t -i -e ENV=/etc/berth-test-noedit --image-config ${configFile} -- sh`,
      `echo $? > ${dir}/exit`,
      `stty -g > ${dir}/stty.after`,
      'sleep 600',
    ].join('; ');
    fs.writeFileSync(path.join(dir, 'session.sh'), script);
    tmux('new-session', '-d', '-s', 'c', '-x', '80', '-y', '24', `sh ${dir}/session.sh`);
    // A second session, closed under the running shell (the terminal hangs up).
    fs.writeFileSync(
      path.join(dir, 'hangup.sh'),
      `exec ${process.execPath} ${run} --rootfs ${alpine.rootfs} --state ${dir}/state-hangup --rm -t -i --image-config ${configFile} -- sh`,
    );
    tmux('new-session', '-d', '-s', 'h', '-x', '80', '-y', '24', `sh ${dir}/hangup.sh`);
  });
  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // Not started.
    }
    if (dir) {
      for (const state of ['state', 'state-hangup']) await removeAllContainers(new Runtime({ stateDir: path.join(dir, state) }));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  async function type(keys: string, expected: RegExp): Promise<string> {
    tmux('send-keys', '-t', 'c', keys, 'Enter');
    return until(() => {
      const s = screen();
      return expected.test(s) ? s : undefined;
    }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} for ${String(expected)}; the screen: ${JSON.stringify(screen())}`);
    });
  }

  it('gives the shell a terminal of its own devpts, sized like the host terminal, TERM=xterm', async () => {
    await until(() => /^\/ #/m.test(screen()));
    const s = await type('echo "T=$(tty) S=$(stty size) TERM=$TERM"', /T=\S+ S=\d+ \d+ TERM=\S+/);
    expect(s).toMatch(/T=\/dev\/pts\/0 S=24 80 TERM=xterm/);
  });

  it('follows the host terminal size', async () => {
    tmux('resize-window', '-t', 'c', '-x', '100', '-y', '30');
    const s = await type('echo "R=$(stty size)"', /R=\d+ \d+/);
    expect(s).toMatch(/R=30 100/);
  });

  it('delivers Ctrl-C to the foreground process through the container terminal (raw mode on the host)', async () => {
    tmux('send-keys', '-t', 'c', 'sleep 100', 'Enter');
    await until(() => /^\/ # sleep 100\s*$/m.test(screen()));
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', 'c', 'C-c');
    await until(() => /\^C\s*\n\/ #/.test(screen()));
    const s = await type('echo "rc=$?"', /rc=\d+/);
    // SIGINT from the container's own line discipline killed sleep: 128 + 2.
    expect(s).toMatch(/rc=130/);
  });

  it('hangs the container terminal up when the host terminal goes away: the shell exits, --rm cleans up', async () => {
    const stateDir = path.join(dir, 'state-hangup');
    const containers = (): string[] => (fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((e) => /^[0-9a-f]{64}$/.test(e)) : []);
    await until(() => /^\/ #/m.test(tmux('capture-pane', '-p', '-t', 'h')));
    const [id] = containers();
    expect(id).toBeDefined();
    const pid = (await new Runtime({ stateDir }).inspect(id as string)).pid as number;
    tmux('kill-session', '-t', 'h');
    await until(() => containers().length === 0 || undefined);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('exits with the shell status and restores the host terminal', async () => {
    tmux('send-keys', '-t', 'c', 'exit 3', 'Enter');
    // The shell creates stty.after before stty writes to it: wait for the whole line.
    const after = (): string => (fs.existsSync(path.join(dir, 'stty.after')) ? fs.readFileSync(path.join(dir, 'stty.after'), 'utf8') : '');
    const code = await until(() => (after().endsWith('\n') ? fs.readFileSync(path.join(dir, 'exit'), 'utf8').trim() : undefined));
    expect(code).toBe('3');
    expect(after()).toBe(fs.readFileSync(path.join(dir, 'stty.before'), 'utf8'));
    // --rm removed the container.
    expect(fs.readdirSync(path.join(dir, 'state')).filter((e) => /^[0-9a-f]{64}$/.test(e))).toEqual([]);
  });
});
