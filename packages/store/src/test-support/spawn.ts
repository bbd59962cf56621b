import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const viteNode = path.join(repoRoot, 'node_modules/vite-node/vite-node.mjs');
const childScript = path.join(repoRoot, 'packages/store/src/test-support/child.ts');

/** Why child-process tests cannot run here, or undefined if they can. */
export function childUnavailable(): string | undefined {
  return existsSync(viteNode) ? undefined : `vite-node not found at ${viteNode}`;
}

export interface Child {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching `re`. */
  waitLine(re: RegExp): Promise<string>;
  /** Resolves with exit code (or signal) and all output once the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Run test-support/child.ts in a new node process (TypeScript via vite-node, @berth/* aliased to sources). */
export function spawnChild(args: string[]): Child {
  const proc = spawn(process.execPath, [viteNode, '-c', path.join(repoRoot, 'vitest.config.ts'), childScript, '--', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    for (const w of [...waiters]) {
      const line = stdout.split('\n').find((l) => w.re.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    proc,
    exited,
    waitLine: (re) =>
      new Promise<string>((resolve, reject) => {
        const line = stdout.split('\n').find((l) => re.test(l));
        if (line !== undefined) return resolve(line);
        waiters.push({ re, resolve });
        void exited.then((r) => reject(new Error(`child exited (${r.code ?? r.signal}) before printing ${re}: ${r.stderr.trim()}`)));
      }),
  };
}
