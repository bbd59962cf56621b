/**
 * Bundles a runtime source file (or a generated entry) with esbuild as the runtime's own
 * bundles are made (CommonJS for node20, koffi external, @berth/oci and @berth/sys from
 * source), for tests that run it in a fresh Node process.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const packagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function bundleForTest(entry: string, outfile: string): Promise<void> {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // As the runtime's own CommonJS bundles (build-entrypoints.mjs): @berth/sys names koffi's module by import.meta.url.
    define: { 'import.meta.url': '__filename' },
    target: 'node20',
    external: ['koffi'],
    alias: {
      '@berth/oci': path.join(packagesDir, 'oci', 'src', 'errors.ts'),
      '@berth/sys': path.join(packagesDir, 'sys', 'src', 'index.ts'),
    },
    logLevel: 'warning',
  });
}
