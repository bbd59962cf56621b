import type { CommandContext } from '../context.js';
import { berthCommand, collect, type OptionsOf } from './command.js';

/** `berth build [-f RECIPE] [-t NAME]… [--build-arg K=V]… [--no-cache] [CONTEXT]` */
export function buildCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'build')
    .description('Build an image from a YAML recipe')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <recipe>', 'recipe file (default: CONTEXT/berth.yaml)')
    .option('-t, --tag <name[:tag]>', 'tag the result (repeatable)', collect)
    .option('--build-arg <NAME=VALUE>', 'override a recipe arg (repeatable)', collect)
    .option('--no-cache', 'run every step, ignoring the layer cache')
    .option('--network <mode>', 'network for run steps: none (default) or host')
    .option('--compression <c>', 'layer compression: gzip (default), zstd or none')
    .option('--platform <os/arch[/variant]>', 'platform of the base image')
    .option('-q, --quiet', 'print only the image digest')
    .option('--format <format>', 'table or json')
    .action(async (dir, { cache, ...opts }) => {
      ctx.exitCode = await (await import('../actions/build.js')).build(ctx, dir, { ...opts, noCache: !cache });
    });
}

/** The flags of `berth build` as its handler takes them: `--no-cache` as `noCache`. */
export type BuildFlags = Omit<OptionsOf<typeof buildCommand>, 'cache'> & { noCache: boolean };
