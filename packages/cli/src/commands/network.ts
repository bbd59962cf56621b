import type { CommandContext } from '../context.js';
import { berthCommand, collect } from './command.js';

/** `berth network create|ls|inspect|rm|connect|disconnect|prune`: bridge networks (@berth/network). */
export function networkCommand(ctx: CommandContext) {
  const actions = () => import('../actions/network.js');
  return berthCommand(ctx, 'network')
    .description('Manage networks')
    .addCommand(
      berthCommand(ctx, 'create')
        .description('Create a bridge network')
        .argument('<name>')
        .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.90.0.0/24 (default: the first free /16 of 10.88-10.127)')
        .option('--gateway <ip>', "gateway address (default: the subnet's first)")
        .option('--internal', 'no NAT, no default route, no published ports')
        .option('-d, --driver <driver>', 'bridge (the only driver)')
        .action(async (name, opts) => {
          ctx.exitCode = await (await actions()).networkCreate(ctx, name, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'ls')
        .alias('list')
        .description('List networks')
        .option('-q, --quiet', 'only names')
        .option('--format <format>', 'table or json')
        .action(async (opts) => {
          ctx.exitCode = await (await actions()).networkLs(ctx, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'inspect')
        .description('Show networks as JSON, with the containers attached')
        .argument('<network...>')
        .action(async (names) => {
          ctx.exitCode = await (await actions()).networkInspect(ctx, names);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'rm')
        .alias('remove')
        .description('Remove networks (refused while a container is attached)')
        .argument('<network...>')
        .action(async (names) => {
          ctx.exitCode = await (await actions()).networkRm(ctx, names);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'connect')
        .description('Connect a running container to a network (its next ethN)')
        .argument('<network>')
        .argument('<container>')
        .option('--alias <name>', 'a name of the container on this network (repeatable)', collect)
        .option('--ip <address>', 'its IPv4 address on this network (in the subnet, not in use)')
        .action(async (network, container, opts: { alias?: string[]; ip?: string }) => {
          ctx.exitCode = await (await actions()).networkConnect(ctx, network, container, opts);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'disconnect')
        .description('Disconnect a container from a network')
        .argument('<network>')
        .argument('<container>')
        .option('-f, --force', 'accepted for docker compatibility')
        .action(async (network, container) => {
          ctx.exitCode = await (await actions()).networkDisconnect(ctx, network, container);
        }),
    )
    .addCommand(
      berthCommand(ctx, 'prune')
        .description('Remove the networks no container is attached to')
        .option('-f, --force', 'do not prompt for confirmation')
        .action(async (opts) => {
          ctx.exitCode = await (await actions()).networkPrune(ctx, opts);
        }),
    );
}
