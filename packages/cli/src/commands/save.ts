import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

/** `berth save [-o FILE|DIR] [--format docker-archive|oci-archive|oci] REF…` */
export function saveCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'save')
    .description('Write images to a tar archive (docker-archive and OCI layout in one)')
    .argument('<reference...>')
    .option('-o, --output <file|dir>', 'archive file, or the directory of an OCI layout (default: stdout)')
    .option('--format <format>', 'docker-archive (docker-archive and OCI layout in one tar, as docker save), oci-archive (a tar of an OCI layout), oci (an OCI layout directory)', 'docker-archive')
    .action(async (refs, opts) => {
      ctx.exitCode = await (await import('../actions/transfer.js')).save(ctx, refs, opts);
    });
}
