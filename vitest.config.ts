import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkgs = ['oci', 'registry', 'store', 'layers', 'rootfs', 'runtime', 'build', 'cli', 'testing'];

export default defineConfig({
  resolve: {
    // Test code imports @berth/* from the TypeScript sources, not dist/. What tests spawn runs
    // the build (`npm run build` first): the CLI (packages/cli/dist/bin.js), the runtime's
    // init and shim bundles, and the example programs (vite-node resolves @berth/* to dist/).
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
