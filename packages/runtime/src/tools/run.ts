/**
 * A minimal foreground runner over Runtime, for the runtime's own end-to-end
 * tests and benchmarks (the real command line is @berth/cli):
 *
 *   node dist/tools/run.js --rootfs DIR [--state DIR] [-t] [-i] [--init] [--rm]
 *     [--name N] [--hostname H] [-u USER] [-w DIR] [-e K=V]... [--network host]
 *     [--read-only] [-v HOST:CONTAINER[:ro]]... [--image-config FILE] -- CMD [ARG...]
 *
 * Exits with the container's status; a container that cannot start prints
 * `berth: <message>` and exits 125, 126 or 127.
 */
import { readFileSync } from 'node:fs';
import type { ImageConfig } from '@berth/oci';
import { startFailureExitCode } from '../lifecycle/errors.js';
import { Runtime } from '../runtime.js';
import { buildSpec } from '../spec/build.js';
import type { RunOverrides } from '../spec/types.js';
import { newContainerId } from '../lifecycle/state.js';

function parse(argv: string[]): { flags: Map<string, string[]>; cmd: string[] } {
  const flags = new Map<string, string[]>();
  const valued = new Set(['--rootfs', '--state', '--name', '--hostname', '-u', '-w', '-e', '--network', '--image-config', '-v']);
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-')) break;
    const v = valued.has(a) ? argv[++i] : 'true';
    if (v === undefined) throw new Error(`${a} needs a value`);
    flags.set(a, [...(flags.get(a) ?? []), v]);
  }
  return { flags, cmd: argv.slice(i) };
}

async function main(): Promise<number> {
  const { flags, cmd } = parse(process.argv.slice(2));
  const state = flags.get('--state')?.[0];
  const runtime = new Runtime(state === undefined ? {} : { stateDir: state });
  // As the CLI does: the worker boots and an init is parked while the container is prepared.
  const warm = runtime.warm();
  const one = (k: string): string | undefined => flags.get(k)?.[0];
  const rootfs = one('--rootfs');
  if (rootfs === undefined) throw new Error('--rootfs is required');
  const imageConfigFile = one('--image-config');
  const imageConfig = (
    imageConfigFile ? JSON.parse(readFileSync(imageConfigFile, 'utf8')) : { architecture: process.arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }
  ) as ImageConfig;
  const tty = flags.has('-t');
  const overrides: RunOverrides = { tty, init: flags.has('--init'), readOnly: flags.has('--read-only') };
  if (cmd.length > 0) overrides.cmd = cmd;
  if (one('--hostname')) overrides.hostname = one('--hostname') as string;
  if (one('-u')) overrides.user = one('-u') as string;
  if (one('-w')) overrides.workdir = one('-w') as string;
  if (flags.has('-e')) overrides.env = flags.get('-e') as string[];
  if (flags.has('-v')) overrides.volumes = flags.get('-v') as string[];
  if (one('--network') === 'host') overrides.network = 'host';
  const id = newContainerId();
  const spec = buildSpec({ imageConfig, rootfs, overrides, containerId: id });
  await warm;
  const name = one('--name');
  const r = await runtime.run({
    id,
    ...(name === undefined ? {} : { name }),
    rootfs,
    spec,
    stdio: 'inherit',
    tty,
    interactive: flags.has('-i'),
    init: flags.has('--init'),
    remove: flags.has('--rm'),
  });
  return r.exitCode;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`berth: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = startFailureExitCode(err);
}
