import type { CommandContext } from '../context.js';
import { alias, berthCommand } from './command.js';
import { imagePruneCommand } from './image-prune.js';
import { imagesCommand } from './images.js';
import { rmiCommand } from './rmi.js';

/** `berth image ls|rm|prune` */
export function imageCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'image')
    .description('Manage images')
    .addCommand(alias(imagesCommand(ctx), 'ls', 'List images'))
    .addCommand(alias(rmiCommand(ctx), 'rm', 'Remove images'))
    .addCommand(imagePruneCommand(ctx));
}
