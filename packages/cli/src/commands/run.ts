import type { CommandContext } from '../context.js';
import { CommanderError } from '@commander-js/extra-typings';
import { RUN_FAILED_EXIT } from '../output.js';
import { berthCommand, collect, type OptionsOf } from './command.js';

const RUN_EXIT_HELP = `
Exit status: the container's (128+N when signal N ended it); 125 when berth
failed, bad or unknown options included, and with -it when stdin is not a
terminal ("the input device is not a TTY"; docker's CLI exits 1 there);
126 when the command cannot be executed; 127 when it is not found.`;

/** `berth run [flags] IMAGE [COMMAND [ARG…]]`; flags after IMAGE belong to the command. */
export function runCommand(ctx: CommandContext) {
  return berthCommand(ctx, 'run')
    .description('Run a command in a new container (the image is pulled if missing)')
    .helpOption('--help', 'display help for command')
    .usage('[options] IMAGE [COMMAND [ARG...]]')
    .addHelpText('after', RUN_EXIT_HELP)
    // docker exits 125 for every `run` failure of its own: unknown options and missing arguments too.
    .exitOverride((err) => {
      throw err.exitCode === 0 ? err : new CommanderError(RUN_FAILED_EXIT, err.code, err.message);
    })
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions()
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('-d, --detach', 'run in the background and print the container ID')
    .option('--rm', 'remove the container when it exits')
    .option('--name <name>', 'container name')
    .option('-e, --env <KEY[=VALUE]>', 'set an environment variable (repeatable)', collect)
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, optionally with group')
    .option('-h, --hostname <name>', 'container hostname')
    .option('--entrypoint <command>', "override the image's entrypoint")
    .option('--cap-add <cap>', 'add a capability (repeatable)', collect)
    .option('--cap-drop <cap>', 'drop a capability (repeatable)', collect)
    .option('--privileged', 'all capabilities, no seccomp, no masked paths')
    .option('--security-opt <opt>', 'seccomp=unconfined|PROFILE.json, no-new-privileges (repeatable)', collect)
    .option('-m, --memory <bytes>', 'memory limit, e.g. 512m')
    .option('--memory-swap <bytes>', 'memory plus swap limit; -1 for unlimited')
    .option('--cpus <n>', 'CPU limit, e.g. 1.5')
    .option('--pids-limit <n>', 'process limit')
    .option('-v, --volume <[src:]dest[:ro]>', 'bind mount of an absolute host path (made when missing), a named volume (made on first use, seeded from the image when empty), or without src an anonymous volume (repeatable)', collect)
    .option('--mount <type=bind|volume|tmpfs,…>', "docker's --mount: type, source|src, target|dst|destination, readonly|ro, volume-nocopy, volume-label, tmpfs-size, tmpfs-mode, bind-propagation (repeatable)", collect)
    .option('--tmpfs <path[:opts]>', 'mount a tmpfs (repeatable)', collect)
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--network <network>', 'bridge (default), none, host, container:NAME or a network name')
    .option('--net <network>', 'alias of --network')
    .option('-p, --publish <spec>', 'publish a port: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp], ranges too (repeatable)', collect)
    .option('-P, --publish-all', "publish the image's exposed ports on free host ports")
    .option('--dns <ip>', 'nameserver for the container (repeatable)', collect)
    .option('--dns-search <domain>', 'DNS search domain (repeatable)', collect)
    .option('--dns-option <option>', 'resolv.conf option (repeatable)', collect)
    .option('--add-host <name:ip>', 'add a line to /etc/hosts (repeatable)', collect)
    .option('--network-alias <alias>', 'a name of the container on a user-defined network (repeatable)', collect)
    .option('--ip <address>', 'the IPv4 address on a user-defined network (in its subnet, not in use)')
    .option('--mac-address <mac>', 'the MAC address of eth0 (xx:xx:xx:xx:xx:xx)')
    .option('--init', 'run a minimal init as PID 1 that forwards signals and reaps zombies')
    .option('--log-driver <driver>', 'json-file (default): keep the output for `berth logs`, as docker keeps every container\'s; none: keep nothing')
    .option('--restart <policy>', 'no (default), on-failure[:N], always, unless-stopped: restart the detached container when it exits (100 ms doubling backoff); `stop`/`kill` end it. run needs -d; create\'s policy is kept by `start`, and `start -a` refuses it')
    .option('--ulimit <name=soft[:hard]>', 'resource limit (repeatable)', collect)
    .option('--platform <os/arch[/variant]>', 'platform of the image')
    .option('-q, --quiet', 'no pull progress')
    .action(async (image, command, opts) => {
      ctx.exitCode = await (await import('../actions/run.js')).run(ctx, image, command, opts);
    });
}

/** The parsed flags of `berth run`, as its declaration above types them. */
export type RunOptions = OptionsOf<typeof runCommand>;
