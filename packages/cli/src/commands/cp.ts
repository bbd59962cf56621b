import type { CommandContext } from '../context.js';
import { berthCommand } from './command.js';

const CP_HELP = `
Paths (docker's rules): CONTAINER:SRC_PATH DEST_PATH|-, or SRC_PATH|- CONTAINER:DEST_PATH.
A local path with a colon needs a leading ./ or /. "-" as DEST is a tar of SRC on stdout;
"-" as SRC is a tar read from stdin and extracted into the directory DEST.
  a file  to a missing DEST: written as DEST (DEST ending in / is an error)
          to a file: overwritten; to a directory: copied into it
  a dir   to a missing DEST: DEST is made with its content; to a file: an error
          to a directory: copied into it, or only its content when SRC ends in /.
Paths in the container resolve inside its root filesystem: its symlinks never lead out
of it. A running container is paused while its files are copied, as docker does.
Ownership (docker's documented rule): files copied into a container are owned by root,
files copied out by the user running berth; -a keeps the source's uid/gid.`;

/** `berth cp [-a] [-L] CONTAINER:SRC DEST|-` and `berth cp [-a] [-L] SRC|- CONTAINER:DEST` */
export function cpCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'cp')
    .description('Copy files between a container and the host')
    .usage('[options] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [options] SRC_PATH|- CONTAINER:DEST_PATH')
    .addHelpText('after', CP_HELP)
    .argument('<src>')
    .argument('<dest>')
    .option('-a, --archive', "archive mode: keep the source's uid/gid")
    .option('-L, --follow-link', 'always follow a symbolic link in SRC_PATH')
    .option('-q, --quiet', 'no progress output (there is none without a terminal)')
    .action(async (src, dest, opts) => {
      ctx.exitCode = await (await import('../actions/cp.js')).cp(ctx, src, dest, opts);
    });
}
