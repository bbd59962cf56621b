import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth save [-o FILE] REF…` */
export function saveCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'save')
    .description('Write images to a tar archive (docker-archive and OCI layout in one)')
    .argument('<reference...>')
    .option('-o, --output <file>', 'archive file (default: stdout)')
    .action(async (refs, opts) => {
      ctx.exitCode = await (await import('../actions/transfer.js')).save(ctx, refs, opts);
    });
}
