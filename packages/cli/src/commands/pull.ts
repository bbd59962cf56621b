import type { CommandContext } from '../context.js';
import { berthCommand, type OptionsOf } from './command.js';

/** `berth pull [--platform P] [-q] [--format json] [--max-concurrent-downloads N] REF` */
export function pullCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'pull')
    .description('Download an image from a registry')
    .argument('<reference>', 'image reference, e.g. alpine:3.20 or host:5000/app@sha256:…')
    .option('--platform <os/arch[/variant]>', 'platform to pull (default: this host)')
    .option('-q, --quiet', 'print only the image reference')
    .option('--format <format>', 'output format: table or json')
    .option('--max-concurrent-downloads <n>', 'layers downloaded at once', '3')
    .action(async (ref, opts) => {
      ctx.exitCode = await (await import('../actions/pull.js')).pull(ctx, ref, opts);
    });
}

/** The parsed flags of `berth pull`. */
export type PullOptions = OptionsOf<typeof pullCommand>;
