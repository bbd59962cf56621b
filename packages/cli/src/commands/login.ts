import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth login [-u USER] [--password-stdin | -p PASS] [REGISTRY]` */
export function loginCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'login')
    .description('Log in to a registry (on a terminal, asks for the username and password, as docker; without one, use --password-stdin)')
    .argument('[registry]', 'registry host', 'docker.io')
    .option('-u, --username <user>')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (registry, opts) => {
      ctx.exitCode = await (await import('../actions/login.js')).login(ctx, registry, opts);
    });
}
