import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth logout [REGISTRY]` */
export function logoutCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'logout')
    .description('Log out from a registry')
    .argument('[registry]', 'registry host', 'docker.io')
    .action(async (registry) => {
      ctx.exitCode = await (await import('../actions/login.js')).logout(ctx, registry);
    });
}
