import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkgs = ['oci', 'sys', 'registry', 'store', 'layers', 'rootfs', 'runtime', 'build', 'cli', 'testing'];

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, not dist/.
    alias: Object.fromEntries(
      pkgs.map((p) => [`@berth/${p}`, fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url))]),
    ),
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
