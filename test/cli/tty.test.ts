import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, seedImage, sharedImagesDir, startRegistry, type RunningRegistry } from '@berth/testing';
import { berthBin, sandbox, type Sandbox } from './helpers.js';

const images = sharedImagesDir();
const tmux = findBinary('tmux');

/** Drive berth on a real terminal (tmux), as a person would. */
describe.skipIf(!images || !tmux)('berth on a terminal', () => {
  let registry: RunningRegistry;
  let box: Sandbox;
  const session = `berth-tty-${process.pid}`;

  beforeAll(async () => {
    registry = await startRegistry();
    await seedImage({ registry, layout: path.join(images as string, 'alpine'), tag: 'latest', repository: 'library/alpine' });
    box = await sandbox();
    await box.writeConfig(`registries:\n  docker.io:\n    mirrors: ["${registry.url}"]\n`);
  });

  afterAll(async () => {
    spawnSync('tmux', ['kill-session', '-t', session]);
    await registry?.stop();
    await box?.cleanup();
  });

  const screen = () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
  async function waitFor(re: RegExp): Promise<string> {
    for (let i = 0; i < 300; i++) {
      const s = screen();
      if (re.test(s)) return s;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${re} on the terminal:\n${screen()}`);
  }

  function startOnTerminal(args: string[]): void {
    spawnSync('tmux', ['kill-session', '-t', session]);
    const env = Object.entries(box.env).map(([k, v]) => `${k}=${v}`);
    const cmd = ['env', '-u', 'CI', ...env, 'TERM=xterm', process.execPath, berthBin, ...args].map((a) => `'${a}'`).join(' ');
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '30', `${cmd}; echo "exit=$?"; stty -a | grep -o -- '-\\?icanon'; sleep 60`]);
  }

  it('pull shows per-layer progress lines like docker pull', async () => {
    startOnTerminal(['pull', 'alpine']);
    const s = await waitFor(/exit=\d+/);
    expect(s).toContain('latest: Pulling from library/alpine');
    expect(s).toMatch(/^[a-f0-9]{12}: Pull complete/m);
    expect(s).toMatch(/^Status: Downloaded newer image for alpine:latest/m);
    expect(s).toMatch(/^docker\.io\/library\/alpine:latest/m);
    expect(s).toContain('exit=0');
  });

  it.skipIf(process.getuid?.() !== 0)('run -it gives a usable shell on a pty, and restores the terminal', async () => {
    startOnTerminal(['run', '--rm', '-it', 'alpine', 'sh']);
    await waitFor(/^\/ # ?$/m);
    execFileSync('tmux', ['send-keys', '-t', session, 'echo "answer=$((6*7)) tty=$(tty)"; stty size', 'Enter']);
    const s = await waitFor(/^answer=42 tty=\/dev\/pts\/\d+\s*$/m);
    expect(s).toMatch(/^30 120\s*$/m);
    execFileSync('tmux', ['resize-window', '-t', session, '-x', '100', '-y', '25']);
    await sleep(300);
    execFileSync('tmux', ['send-keys', '-t', session, 'stty size; exit 3', 'Enter']);
    // the last line the shell prints after berth exits: wait for it, not just for exit=
    const end = await waitFor(/^-?icanon\s*$/m);
    expect(end).toMatch(/^25 100\s*$/m);
    expect(end).toContain('exit=3');
    // the host terminal is back in canonical (cooked) mode
    expect(end).toMatch(/^icanon\s*$/m);
  });
});
