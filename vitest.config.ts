import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const pkgs = ['oci', 'fs-root', 'archive', 'image', 'registry', 'store', 'layers', 'rootfs', 'runtime', 'builder', 'cli', 'testing', 'network', 'sys'];

/*
 * Four projects; every test file is in exactly one (scripts/check-test-projects.mjs checks it,
 * and so does packages/testing/src/projects.test.ts). The rule, from the file name
 * (ARCHITECTURE.md, "Tests"):
 *   unit         packages/<pkg>/src/**\/<name>.test.ts: no root, no host tools, no dist/, fast.
 *   integration  <name>.root.test.ts (needs root: mounts, namespaces, other users),
 *                <name>.int.test.ts (needs a host tool, a real registry or the built dist/),
 *                packages/<pkg>/src/e2e/, test/registry/, test/build/.
 *   cli          the built CLI and scripts: test/cli/, test/scripts/, examples/.
 *   kill         SIGKILL at random moments, then check nothing leaked: test/kill/ (slow).
 */
const UNIT = ['packages/*/src/**/*.test.ts'];
const INTEGRATION_BY_NAME = [
  'packages/*/src/**/*.root.test.ts',
  'packages/*/src/**/*.int.test.ts',
  'packages/*/src/e2e/**/*.test.ts',
  'test/registry/**/*.test.ts',
  'test/build/**/*.test.ts',
];
const CLI = ['test/cli/**/*.test.ts', 'test/scripts/**/*.test.ts', 'examples/**/*.test.ts'];
const KILL = ['test/kill/**/*.test.ts'];

export const testProjects = {
  unit: { include: UNIT, exclude: INTEGRATION_BY_NAME },
  integration: { include: INTEGRATION_BY_NAME, exclude: [] as string[] },
  cli: { include: CLI, exclude: [] as string[] },
  kill: { include: KILL, exclude: [] as string[] },
};

export default defineConfig({
  resolve: {
    // Test code imports @berth/* from the TypeScript sources, not dist/. What tests spawn runs
    // the build (`npm run build` first): the CLI (packages/cli/dist/bin.js), the runtime's
    // init and shim bundles, and the example programs (vite-node resolves @berth/* to dist/).
    // Subpath exports come first: an alias matches as a prefix.
    alias: {
      '@berth/network/dns': fileURLToPath(new URL('./packages/network/src/dns.ts', import.meta.url)),
      '@berth/runtime/listing': fileURLToPath(new URL('./packages/runtime/src/listing.ts', import.meta.url)),
      '@berth/runtime/exec': fileURLToPath(new URL('./packages/runtime/src/exec.ts', import.meta.url)),
      ...Object.fromEntries(pkgs.map((p) => [`@berth/${p}`, fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url))])),
    },
  },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: Object.entries(testProjects).map(([name, p]) => ({
      extends: true as const,
      test: { name, include: p.include, exclude: [...configDefaults.exclude, ...p.exclude] },
    })),
  },
});
