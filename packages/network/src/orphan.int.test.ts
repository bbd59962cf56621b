import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dyingWithUs } from './orphan.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-orphan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
};

describe('dyingWithUs', () => {
  it.skipIf(!existsSync('/usr/bin/setpriv'))('a command run through it dies when the process that started it is SIGKILLed', async () => {
    const pidFile = path.join(dir, 'pid');
    const cmd = dyingWithUs('/bin/sh', ['-c', `echo $$ > ${pidFile}; exec sleep 60`]);
    // A parent that starts the command, then is killed as a berth would be.
    const parent = spawn(process.execPath, ['-e', `require('node:child_process').spawn(${JSON.stringify(cmd.file)}, ${JSON.stringify(cmd.args)}, { stdio: 'ignore' }); setInterval(() => {}, 1000);`], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await new Promise((r) => parent.once('exit', r));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    const survived = alive(pid);
    if (survived) process.kill(pid, 'SIGKILL');
    expect(survived).toBe(false);
  });
});
