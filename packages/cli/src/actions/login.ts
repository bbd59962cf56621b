import { BerthError } from '@berth/oci';
import type { CommandContext } from '../context.js';

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** `berth login [-u USER] [--password-stdin | -p PASS] [REGISTRY]` (default docker.io). */
export async function login(ctx: CommandContext, registry: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean }): Promise<number> {
  const host = registry ?? 'docker.io';
  if (!opts.username) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: --username is required`);
  if (opts.password !== undefined && opts.passwordStdin) throw new BerthError('EINVAL_ARGUMENT', 'login: --password and --password-stdin are mutually exclusive');
  const password = opts.passwordStdin ? await readStdin(ctx.stdin) : opts.password;
  if (!password) throw new BerthError('EINVAL_ARGUMENT', `login ${host}: a password is required (--password-stdin)`);
  const { login: doLogin } = await import('@berth/registry');
  await doLogin({ registry: host, username: opts.username, password, verify: await ctx.registry() });
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
