/**
 * Which host tools a test needs, and what to do when one is missing: skip with the
 * Debian package to install, or, after the set-up ran (`npm test` sets
 * BERTH_TEST_REQUIRE_TOOLS=1), fail, since the set-up should have installed it.
 * The tool → package map is the one list, `scripts/system-packages.txt`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import { findBinary, repoRoot } from './util.js';

/** The environment variable `npm test` (scripts/test.mjs) sets once the set-up has run. */
export const REQUIRE_TOOLS_ENV = 'BERTH_TEST_REQUIRE_TOOLS';

/** The one list of Debian packages: `package  command…` per line, `#` comments. */
export function systemPackagesFile(): string {
  return path.join(repoRoot(), 'scripts', 'system-packages.txt');
}

/** command → Debian package, from `file` (default: the repository's list); empty when it cannot be read. */
export function debianPackages(file: string = systemPackagesFile()): Map<string, string> {
  const byTool = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return byTool;
  }
  for (const line of text.split('\n')) {
    const [pkg, ...tools] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (pkg) for (const tool of tools) byTool.set(tool, pkg);
  }
  return byTool;
}

export interface ToolCheckOptions {
  /** Where PATH and BERTH_TEST_REQUIRE_TOOLS come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The package list (default `scripts/system-packages.txt`). */
  packagesFile?: string;
}

/**
 * Why a test needing `tools` (command names, or absolute paths such as `/usr/bin/time`)
 * cannot run here, or undefined when all are present. The reason names each missing tool's
 * Debian package: "missing htpasswd (Debian package apache2-utils): run scripts/setup-system.sh as root".
 * With BERTH_TEST_REQUIRE_TOOLS=1 a missing tool that the list names a package for throws
 * instead (a skipped test would hide a broken set-up); tools the set-up cannot install
 * still give a skip reason.
 */
export function toolsMissing(tools: readonly string[], opts: ToolCheckOptions = {}): string | undefined {
  const env = opts.env ?? process.env;
  const missing = tools.filter((t) => !findBinary(t, env['PATH']));
  if (missing.length === 0) return undefined;
  const packages = debianPackages(opts.packagesFile);
  const packageOf = (t: string): string | undefined => packages.get(t) ?? packages.get(path.basename(t));
  const installable = missing.filter((t) => packageOf(t) !== undefined);
  if (installable.length > 0 && env[REQUIRE_TOOLS_ENV] === '1') {
    const named = installable.map((t) => `${t} (Debian package ${packageOf(t)})`).join(', ');
    throw new BerthError(
      'ERUNTIME',
      `check test tools: ${named} ${installable.length > 1 ? 'are' : 'is'} missing although the set-up (scripts/setup-system.sh) should have installed ${installable.length > 1 ? 'them' : 'it'}`,
    );
  }
  const named = missing.map((t) => {
    const pkg = packageOf(t);
    return pkg ? `${t} (Debian package ${pkg})` : `${t} (not a package the set-up installs)`;
  });
  return `missing ${named.join(', ')}${installable.length > 0 ? ': run scripts/setup-system.sh as root' : ''}`;
}

/** `toolsMissing` for the real-registry tests: `docker-registry` and `skopeo` unless told otherwise. */
export function registryToolsMissing(tools: readonly string[] = ['docker-registry', 'skopeo'], opts: ToolCheckOptions = {}): string | undefined {
  return toolsMissing(tools, opts);
}
