import { BerthError } from '@berth/oci';
import type { CommandContext } from '../context.js';

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

type TerminalInput = CommandContext['stdin'] & { setRawMode?: (raw: boolean) => unknown };

/**
 * One line typed on the terminal: echoed as typed (the terminal's cooked mode), or with
 * `secret`, read in raw mode and not echoed (backspace edits, Ctrl-C or Ctrl-D aborts);
 * the prompt goes to stdout, as docker's.
 */
async function promptLine(ctx: CommandContext, prompt: string, secret: boolean): Promise<string> {
  const stdin = ctx.stdin as TerminalInput;
  ctx.stdout.write(prompt);
  const raw = secret && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode?.(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const finish = (err?: Error): void => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.pause();
        if (err) reject(err);
        else resolve(line);
      };
      const onEnd = (): void => finish(new BerthError('EINVAL_ARGUMENT', 'login: no answer (end of input)'));
      const onData = (chunk: Buffer | string): void => {
        const text = chunk.toString();
        for (let i = 0; i < text.length; i++) {
          const ch = text[i] as string;
          if (ch === '\r' || ch === '\n') {
            // What was typed ahead belongs to the next prompt.
            const rest = text.slice(i + 1);
            finish();
            if (rest) stdin.unshift(Buffer.from(rest));
            return;
          }
          if (raw && (ch === '\u0003' || ch === '\u0004')) return finish(new BerthError('EABORTED', 'login: interrupted'));
          if (raw && (ch === '\u007f' || ch === '\b')) line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on('data', onData);
      stdin.once('end', onEnd);
      stdin.resume();
    });
  } finally {
    if (raw) {
      stdin.setRawMode?.(false);
      // Raw mode swallowed the Enter: end the prompt's line.
      ctx.stdout.write('\n');
    }
  }
}

/**
 * `berth login [-u USER] [--password-stdin | -p PASS] [REGISTRY]` (default docker.io). As
 * docker: on a terminal, asks for what is missing (`Username: `, then `Password: `, not
 * echoed); without a terminal and without a password, fails with docker's "Cannot perform
 * an interactive login from a non TTY device".
 */
export async function login(ctx: CommandContext, registry: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean }): Promise<number> {
  const host = registry ?? 'docker.io';
  if (opts.password !== undefined && opts.passwordStdin) throw new BerthError('EINVAL_ARGUMENT', 'login: --password and --password-stdin are mutually exclusive');
  if (opts.passwordStdin && !opts.username) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: --username is required with --password-stdin`);
  if (opts.password !== undefined) ctx.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  let username = opts.username;
  let password = opts.passwordStdin ? await readStdin(ctx.stdin) : opts.password;
  if (!opts.passwordStdin && (!username || password === undefined)) {
    if (!ctx.stdin.isTTY) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: Cannot perform an interactive login from a non TTY device`);
    if (!username) username = (await promptLine(ctx, 'Username: ', false)).trim();
    if (!username) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: a username is required`);
    if (password === undefined) password = await promptLine(ctx, 'Password: ', true);
  }
  if (!username) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: --username is required`);
  if (!password) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: a password is required (--password-stdin)`);
  const { login: doLogin } = await import('@berth/registry');
  await doLogin({ registry: host, username, password, verify: await ctx.registry() });
  ctx.stdout.write('Login Succeeded\n');
  return 0;
}

/** `berth logout [REGISTRY]` */
export async function logout(ctx: CommandContext, registry: string | undefined): Promise<number> {
  const host = registry ?? 'docker.io';
  const { logout: doLogout } = await import('@berth/registry');
  const removed = await doLogout({ registry: host });
  ctx.stdout.write(removed ? `Removing login credentials for ${host}\n` : `Not logged in to ${host}\n`);
  return 0;
}
