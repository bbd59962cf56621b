import type { CommandContext } from '../context.js';
import { berthCommand, collect } from './command.js';

/** `berth volume create|ls|inspect|rm|prune`: named volumes under `$BERTH_ROOT/volumes` (../volumes.ts). */
export function volumeCommand(ctx: CommandContext) {
  const actions = () => import('../actions/volume.js');
  return berthCommand(ctx, 'volume')
    .description('Manage volumes')
    .addCommand(
      berthCommand(ctx, 'create')
        .description('Create a volume (a random name when none is given; an existing one is kept, as docker does)')
        .argument('[name]')
        .option('--name <name>', 'the volume name (instead of the argument)')
        .option('--label <key=value>', 'set a label (repeatable)', collect)
        .option('-d, --driver <driver>', 'local (the only driver)')
        .action(async (name, opts) => {
          ctx.exitCode = await (await actions()).volumeCreate(ctx, name, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'ls')
        .alias('list')
        .description('List volumes')
        .option('-q, --quiet', 'only names')
        .option('--format <format>', 'table or json')
        .action(async (opts) => {
          ctx.exitCode = await (await actions()).volumeLs(ctx, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'inspect')
        .description('Show volumes as JSON')
        .argument('<volume...>')
        .option('-f, --format <format>', "json, or a Go template as docker's: '{{.Mountpoint}}'")
        .action(async (names, opts) => {
          ctx.exitCode = await (await actions()).volumeInspect(ctx, names, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'rm')
        .alias('remove')
        .description('Remove volumes (refused while a container uses one)')
        .argument('<volume...>')
        .option('-f, --force', 'no error for a volume that does not exist')
        .action(async (names, opts) => {
          ctx.exitCode = await (await actions()).volumeRm(ctx, names, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'prune')
        .description('Remove the anonymous volumes no container uses (-a: all unused volumes)')
        .option('-a, --all', 'named volumes too')
        .option('-f, --force', 'do not prompt for confirmation')
        .action(async (opts) => {
          ctx.exitCode = await (await actions()).volumePrune(ctx, opts);
        }),
    );
}
