import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir, toolsMissing } from '@berth/testing';
import { berthBin, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

const images = sharedImagesDir();
const tmuxSkip = toolsMissing(['tmux']);
if (tmuxSkip) console.warn(`skipping berth on a terminal: ${tmuxSkip}`);

/** Drive berth on a real terminal (tmux), as a person would. */
describe.skipIf(!!mirrorToolsSkip || !images || !!tmuxSkip)('berth on a terminal', () => {
  let box: MirrorSandbox;
  const session = `berth-tty-${process.pid}`;

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine'] });
  });

  afterAll(async () => {
    spawnSync('tmux', ['kill-session', '-t', session]);
    await box?.cleanup();
  });

  const screen = () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
  async function waitFor(re: RegExp, tries = 300): Promise<string> {
    for (let i = 0; i < tries; i++) {
      const s = screen();
      if (re.test(s)) return s;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${re} on the terminal:\n${screen()}`);
  }

  /**
   * Type a command line at the container's shell until its answer shows. Under load, keys
   * typed right after the first prompt were once lost; the likely cause is busybox's line
   * editor, which asks the terminal for the cursor position after each prompt (its
   * lineedit.c describes a race with typed-ahead input). So a line that gets no
   * answer within `patience` (tenths of a second) is cleared with Ctrl-C and typed again.
   */
  async function typeLine(line: string, answer: RegExp, patience = 50): Promise<string> {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) execFileSync('tmux', ['send-keys', '-t', session, 'C-c']);
      execFileSync('tmux', ['send-keys', '-t', session, line, 'Enter']);
      try {
        return await waitFor(answer, patience);
      } catch {
        // typed again below
      }
    }
    return waitFor(answer);
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
    const s = await typeLine('echo "answer=$((6*7)) tty=$(tty)"; stty size', /^answer=42 tty=\/dev\/pts\/\d+\s*$/m);
    expect(s).toMatch(/^30 120\s*$/m);
    execFileSync('tmux', ['resize-window', '-t', session, '-x', '100', '-y', '25']);
    await sleep(300);
    await typeLine('stty size', /^25 100\s*$/m);
    // berth exits (the --rm cleanup included) before exit= shows: a long wait before typing again,
    // since a Ctrl-C that reached the host's shell would cut the lines checked below
    await typeLine('exit 3', /exit=\d+/, 200);
    // the last line the host shell prints after berth exits: wait for it, not just for exit=
    const end = await waitFor(/^-?icanon\s*$/m);
    expect(end).toContain('exit=3');
    // the host terminal is back in canonical (cooked) mode
    expect(end).toMatch(/^icanon\s*$/m);
  });
  it.skipIf(process.getuid?.() !== 0)('exec -it gives a shell on a pty of the container, and restores the terminal', async () => {
    const env = { ...process.env, ...box.env };
    const started = spawnSync(process.execPath, [berthBin, 'run', '-d', '--name', 'tty-exec', 'alpine', 'sleep', '300'], { env, encoding: 'utf8' });
    expect(started.status, started.stderr).toBe(0);
    try {
      startOnTerminal(['exec', '-it', 'tty-exec', 'sh']);
      await waitFor(/^\/ # ?$/m);
      // The pty is the container's (its devpts), the shell sees the container's PID 1.
      const s = await typeLine('echo "answer=$((6*7)) tty=$(tty) one=$(cat /proc/1/comm)"; stty size', /^answer=42 tty=\/dev\/pts\/\d+ one=sleep\s*$/m);
      expect(s).toMatch(/^30 120\s*$/m);
      await typeLine('exit 5', /exit=\d+/, 200);
      const end = await waitFor(/^-?icanon\s*$/m);
      expect(end).toContain('exit=5');
      expect(end).toMatch(/^icanon\s*$/m);
    } finally {
      spawnSync(process.execPath, [berthBin, 'rm', '-f', 'tty-exec'], { env });
    }
  });
  it.skipIf(process.getuid?.() !== 0)('attach to run -d -it: the shell on this terminal, resized with it; ctrl-p ctrl-q detaches and leaves it running', async () => {
    const env = { ...process.env, ...box.env };
    const started = spawnSync(process.execPath, [berthBin, 'run', '-d', '-it', '--name', 'tty-attach', 'alpine', 'sh'], { env, encoding: 'utf8' });
    expect(started.status, started.stderr).toBe(0);
    try {
      startOnTerminal(['attach', 'tty-attach']);
      // attach shows output from now on: the prompt comes back with the first line typed.
      const s = await typeLine('echo "answer=$((6*7)) tty=$(tty)"; stty size', /^answer=42 tty=\/dev\/pts\/0\s*$/m);
      expect(s).toMatch(/^30 120\s*$/m);
      execFileSync('tmux', ['send-keys', '-t', session, 'C-p', 'C-q']);
      const end = await waitFor(/^-?icanon\s*$/m);
      expect(end).toContain('read escape sequence');
      expect(end).toContain('exit=1');
      expect(end).toMatch(/^icanon\s*$/m);
      const ps = spawnSync(process.execPath, [berthBin, 'ps', '--format', '{{.Names}} {{.State}}'], { env, encoding: 'utf8' });
      expect(ps.stdout).toMatch(/^tty-attach running$/m);
      // Attached again, the shell's exit is attach's exit status.
      startOnTerminal(['attach', 'tty-attach']);
      await typeLine('echo "again=$((2+3))"', /^again=5\s*$/m);
      await typeLine('exit 3', /exit=\d+/, 200);
      expect(await waitFor(/^-?icanon\s*$/m)).toContain('exit=3');
    } finally {
      spawnSync(process.execPath, [berthBin, 'rm', '-f', 'tty-attach'], { env });
    }
  });
});
