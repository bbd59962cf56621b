import { Command, CommanderError } from 'commander';
import { Context } from './context.js';
import { errorLine, ExitError, RUN_FAILED_EXIT, USAGE_EXIT } from './output.js';

const USAGE_HINT = '(run "berth --help" for usage)';

/** Repeatable options (`-e A=1 -e B=2`) collect into a list. */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const RUN_EXIT_HELP = `
Exit status: the container's (128+N when signal N ended it); 125 when berth
failed, bad or unknown options included, and with -it when stdin is not a
terminal ("the input device is not a TTY"; docker's CLI exits 1 there);
126 when the command cannot be executed; 127 when it is not found.`;

/** A command's action: returns the exit code. */
type Action = (ctx: Context) => Promise<number>;

/**
 * Build the `berth` program. Each action imports its command module lazily so
 * start-up only pays for the command being run.
 */
export function program(run: (action: Action) => void): Command {
  const prog = new Command('berth')
    .description('berth: pull, build, unpack and run OCI container images')
    .version('0.1.0', '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError(USAGE_HINT)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`berth: ${s.replace(/^error: /, '')}`) });

  prog
    .command('pull')
    .description('Download an image from a registry')
    .argument('<reference>', 'image reference, e.g. alpine:3.20 or host:5000/app@sha256:…')
    .option('--platform <os/arch[/variant]>', 'platform to pull (default: this host)')
    .option('-q, --quiet', 'print only the image reference')
    .option('--format <format>', 'output format: table or json')
    .option('--max-concurrent-downloads <n>', 'layers downloaded at once', '3')
    .action((ref: string, o) => run(async (ctx) => (await import('./commands/pull.js')).pull(ctx, ref, o)));

  const listImages = (o: { format?: string; quiet?: boolean }) => run(async (ctx) => (await import('./commands/images.js')).images(ctx, o));
  prog.command('images').description('List images in the store').option('--format <format>', 'table or json').option('-q, --quiet', 'only digests').action(listImages);

  prog
    .command('inspect')
    .description('Show an image manifest and config as JSON')
    .argument('<reference...>')
    .action((refs: string[]) => run(async (ctx) => (await import('./commands/inspect.js')).inspect(ctx, refs)));

  prog
    .command('tag')
    .description('Give an image another name')
    .argument('<source>')
    .argument('<target>')
    .action((s: string, t: string) => run(async (ctx) => (await import('./commands/tag.js')).tag(ctx, s, t)));

  const rmi = (refs: string[], o: { force?: boolean }) => run(async (ctx) => (await import('./commands/rmi.js')).rmi(ctx, refs, o));
  prog.command('rmi').description('Remove images').argument('<reference...>').option('-f, --force', 'remove even if a container uses it').action(rmi);

  const image = prog.command('image').description('Manage images');
  image.command('ls').description('List images').option('--format <format>').option('-q, --quiet').action(listImages);
  image.command('rm').description('Remove images').argument('<reference...>').option('-f, --force').action(rmi);
  image
    .command('prune')
    .description('Remove unused blobs and snapshots')
    .option('--format <format>', 'table or json')
    .action((o: { format?: string }) => run(async (ctx) => (await import('./commands/rmi.js')).prune(ctx, o)));

  prog
    .command('login')
    .description('Log in to a registry')
    .argument('[registry]', 'registry host', 'docker.io')
    .option('-u, --username <user>')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action((reg: string, o) => run(async (ctx) => (await import('./commands/login.js')).login(ctx, reg, o)));

  prog
    .command('logout')
    .description('Log out from a registry')
    .argument('[registry]', 'registry host', 'docker.io')
    .action((reg: string) => run(async (ctx) => (await import('./commands/login.js')).logout(ctx, reg)));

  prog
    .command('unpack')
    .description("Write an image's root filesystem into a directory (pulled first if missing)")
    .argument('<reference>')
    .argument('<dir>', 'absent or empty directory')
    .option('--platform <os/arch[/variant]>', 'platform of the image')
    .option('-q, --quiet', 'print nothing on success')
    .action((ref: string, dir: string, o) => run(async (ctx) => (await import('./commands/unpack.js')).unpack(ctx, ref, dir, o)));

  prog
    .command('run')
    .description("Run a command in a new container (the image is pulled if missing)")
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
    .option('-v, --volume <host:container[:ro]>', 'bind mount (repeatable)', collect)
    .option('--tmpfs <path[:opts]>', 'mount a tmpfs (repeatable)', collect)
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--network <mode>', 'none (default) or host')
    .option('--init', 'run a minimal init as PID 1 that forwards signals and reaps zombies')
    .option('--ulimit <name=soft[:hard]>', 'resource limit (repeatable)', collect)
    .option('--platform <os/arch[/variant]>', 'platform of the image')
    .option('-q, --quiet', 'no pull progress')
    .action((image: string, command: string[], o) => run(async (ctx) => (await import('./commands/run.js')).run(ctx, image, command, o)));

  const ps = (o: { all?: boolean; quiet?: boolean; format?: string }) => run(async (ctx) => (await import('./commands/containers.js')).ps(ctx, o));
  const stop = (ids: string[], o: { time?: string }) => run(async (ctx) => (await import('./commands/containers.js')).stop(ctx, ids, o));
  const kill = (ids: string[], o: { signal?: string }) => run(async (ctx) => (await import('./commands/containers.js')).kill(ctx, ids, o));
  const rm = (ids: string[], o: { force?: boolean }) => run(async (ctx) => (await import('./commands/containers.js')).rm(ctx, ids, o));
  const logs = (id: string, o: { follow?: boolean }) => run(async (ctx) => (await import('./commands/containers.js')).logs(ctx, id, o));
  const inspectContainer = (ids: string[]) => run(async (ctx) => (await import('./commands/containers.js')).inspectContainer(ctx, ids));
  const defineContainerCommands = (parent: Command, psName: string) => {
    parent.command(psName).description('List containers').option('-a, --all', 'include stopped containers').option('-q, --quiet', 'only IDs').option('--format <format>', 'table or json').action(ps);
    parent.command('stop').description('Stop containers (SIGTERM, then SIGKILL)').argument('<container...>').option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10').action(stop);
    parent.command('kill').description('Send a signal to containers').argument('<container...>').option('-s, --signal <signal>', 'signal name or number', 'SIGKILL').action(kill);
    parent.command('rm').description('Remove containers').argument('<container...>').option('-f, --force', 'kill a running container first').action(rm);
    parent.command('logs').description("Print a detached container's output").argument('<container>').option('-f, --follow', 'keep printing new output').action(logs);
  };
  defineContainerCommands(prog, 'ps');
  const container = prog.command('container').description('Manage containers');
  defineContainerCommands(container, 'ls');
  container.command('inspect').description('Show container state as JSON').argument('<container...>').action(inspectContainer);
  container
    .command('prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <until=TIME>', 'only containers created before TIME (10m, 24h, Unix seconds, a date)', collect)
    .action((o: { force?: boolean; filter?: string[] }) => run(async (ctx) => (await import('./commands/prune.js')).containerPrune(ctx, o)));

  prog
    .command('system')
    .description('Manage berth')
    .command('prune')
    .description('Remove stopped containers, dangling images, build cache and dead build trees')
    .option('-a, --all', 'remove all images not used by a container, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action((o: { force?: boolean; all?: boolean }) => run(async (ctx) => (await import('./commands/prune.js')).systemPrune(ctx, o)));

  prog
    .command('build')
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
    .action((dir: string, o: { cache?: boolean } & Record<string, unknown>) =>
      run(async (ctx) => (await import('./commands/build.js')).build(ctx, dir, { ...o, noCache: o.cache === false })),
    );

  prog
    .command('push')
    .description('Upload an image to a registry')
    .argument('<local>', 'image in the store')
    .argument('[remote]', 'destination reference (default: the same name)')
    .option('-q, --quiet', 'print only the pushed reference')
    .action((l: string, r: string | undefined, o) => run(async (ctx) => (await import('./commands/transfer.js')).push(ctx, l, r, o)));

  prog
    .command('save')
    .description('Write images to a tar archive (docker-archive and OCI layout in one)')
    .argument('<reference...>')
    .option('-o, --output <file>', 'archive file (default: stdout)')
    .action((refs: string[], o) => run(async (ctx) => (await import('./commands/transfer.js')).save(ctx, refs, o)));

  prog
    .command('load')
    .description('Read images from a docker-archive or OCI archive or layout')
    .option('-i, --input <file|dir>', 'archive file or OCI layout directory (default: stdin)')
    .option('--repository <name>', 'repository for OCI entries named by a bare tag (e.g. 3.20), as skopeo and umoci write them')
    .option('--platform <os/arch[/variant]>', 'platform to keep from multi-platform images (default: this host)')
    .option('-q, --quiet', 'no output')
    .action((o) => run(async (ctx) => (await import('./commands/transfer.js')).load(ctx, o)));

  return prog;
}

/** Run berth with these arguments; resolves to the exit code. */
export async function main(argv: string[], ctx: Context = new Context()): Promise<number> {
  let pending: Promise<number> | undefined;
  const prog = program((action) => {
    pending = action(ctx);
  });
  try {
    await prog.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === RUN_FAILED_EXIT ? RUN_FAILED_EXIT : 2;
    }
    throw err;
  }
  if (!pending) {
    prog.outputHelp();
    return 2;
  }
  try {
    return await pending;
  } catch (err) {
    ctx.stderr.write(`${errorLine(err)}\n`);
    // A bad argument found by a command (usageError) gets the hint commander gives for its own.
    if (err instanceof ExitError && err.exitCode === USAGE_EXIT) ctx.stderr.write(`${USAGE_HINT}\n`);
    if (ctx.env['BERTH_DEBUG'] && err instanceof Error) ctx.stderr.write(`${err.stack}\n`);
    return err instanceof ExitError ? err.exitCode : 1;
  }
}

