// Helpers shared by the benchmark scripts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The 1, 5 and 15 minute load averages, as /proc/loadavg prints them ("1.23 0.98 0.80"). */
export const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The path of command `bin` on PATH, or undefined. */
export const which = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || undefined;

/** A precondition check for script `name`: when `cond` is false, prints `bench/<name>: <why>` and exits 2. */
export function needFor(name) {
  return (cond, why) => {
    if (!cond) {
      console.error(`bench/${name}: ${why}`);
      process.exit(2);
    }
  };
}

/**
 * Replaces section `## <title>` of bench/RESULTS.md with `section` (its text, heading
 * included), or appends it when there is none; every other section is left alone.
 */
export function writeResultsSection(title, section) {
  const file = new URL('./RESULTS.md', import.meta.url);
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const start = text.indexOf(`## ${title}`);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = `${text.trimEnd()}\n\n${section}`;
  }
  writeFileSync(file, text);
}

/**
 * For scripts that time berth's CLI against podman: root, podman, runc, skopeo, the shared
 * alpine layout and a built CLI, or `bench/<name>: <what is missing>` and exit 2.
 * Returns the alpine layouts' directory and the CLI's path.
 */
export function needPodmanPeer(name) {
  const need = needFor(name);
  need(process.getuid?.() === 0, 'needs root (containers)');
  need(which('podman'), 'podman not found (Debian package podman)');
  need(which('runc'), 'runc not found (Debian package runc)');
  need(which('skopeo'), 'skopeo not found (Debian package skopeo)');
  const images = fileURLToPath(new URL('../../shared/images', import.meta.url));
  need(existsSync(join(images, 'alpine', 'index.json')), `no OCI layout at ${images}/alpine`);
  const cli = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
  need(existsSync(cli), 'packages/cli/dist/bin.js is missing: run `npm run build` first');
  return { images, cli };
}

/** Loads alpine into the BERTH_ROOT of `env` (`berth load`) and, when it is missing there, into podman's storage (skopeo). */
export function loadAlpineForBoth({ cli, images, env }) {
  execFileSync(process.execPath, [cli, 'load', '-q', '-i', join(images, 'alpine'), '--repository', 'docker.io/library/alpine'], { env, stdio: 'inherit' });
  if (spawnSync('podman', ['image', 'exists', 'docker.io/library/alpine:latest']).status !== 0) {
    execFileSync('skopeo', ['copy', '--quiet', `oci:${join(images, 'alpine')}:latest`, 'containers-storage:docker.io/library/alpine:latest'], { stdio: 'inherit' });
  }
}

/**
 * A temp directory with a private BERTH_ROOT, BERTH_STATE and BERTH_CONFIG, and the environment
 * for the CLI over it (debug timing off; `extra` added, e.g. a bridge of its own).
 */
export function benchSandbox(name, extra = {}) {
  const tmp = mkdtempSync(join(tmpdir(), `berth-bench-${name}-`));
  const env = {
    ...process.env,
    BERTH_ROOT: join(tmp, 'root'),
    BERTH_STATE: join(tmp, 'state'),
    BERTH_CONFIG: join(tmp, 'config.yaml'),
    CI: '1',
    ...extra,
  };
  delete env.BERTH_DEBUG_TIMING;
  delete env.BERTH_DEBUG;
  return { tmp, env };
}

/**
 * An OCI runtime bundle of alpine in `dir`/bundle, for runc and berth-runtime alike: the host
 * platform's image copied to `dir`/oci (skopeo), unpacked with umoci (rootfs + its
 * config.json), the config set to run `args` without a terminal. Returns the bundle's path.
 */
export function alpineBundle(images, dir, args = ['true']) {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  execFileSync('skopeo', ['copy', '--quiet', '--override-os', 'linux', '--override-arch', arch, `oci:${images}/alpine:latest`, `oci:${dir}/oci:latest`]);
  const bundle = join(dir, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${dir}/oci:latest`, bundle], { stdio: 'ignore' });
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = args;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
  return bundle;
}
