#!/usr/bin/env node
// Bundles the runtime's executables with esbuild, after `tsc` has built dist/. The runtime
// uses nothing from '@berth/oci' at run time but its errors, so every bundle maps
// '@berth/oci' to packages/oci/src/errors.ts (the full package loads zod: ~100 ms); a new
// import of anything else from it fails the bundle loudly. '@berth/fs-root' (the containment
// walk, node:fs and node:path only) and '@berth/sys' (its package.json says sideEffects: false,
// so only the modules used are kept) are bundled from their sources too, so the bundles never
// depend on their dist/ being built first.
//   dist/init/main.cjs the init child (every `berth run` pays its start-up): only koffi
//                      stays external.
//   dist/shim/main.js  the detached container monitor (`berth run -d`).
//   dist/tools/run.js  a minimal runner for tests and benchmarks.
//   dist/oci/main.cjs  berth-runtime, runc's command line for engines.
// Both are built from the TypeScript sources, so tests can rebuild them without tsc.
import { mkdirSync, renameSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const ociSrc = join(here, '..', 'oci', 'src');
const fsRootSrc = join(here, '..', 'fs-root', 'src');
const sysSrc = join(here, '..', 'sys', 'src');
// '@berth/network/dns' (the etc files' rules; node:fs and node:net only) likewise.
const ALIAS = {
  '@berth/oci': join(ociSrc, 'errors.ts'),
  '@berth/fs-root': join(fsRootSrc, 'index.ts'),
  '@berth/sys': join(sysSrc, 'index.ts'),
  '@berth/network/dns': join(here, '..', 'network', 'src', 'dns.ts'),
};

// The init is CommonJS (main.cjs): Node loads a CommonJS entry with fewer steps than an
// ES module one (no async loader), which is measurable at this size (~30 ms CPU here).
const ENTRIES = [
  { name: 'init/main', ext: 'cjs', format: 'cjs', alias: ALIAS },
  // berth-runtime exec's child (joins a running container's namespaces).
  { name: 'init/exec-main', ext: 'cjs', format: 'cjs', alias: ALIAS },
  { name: 'shim/main', alias: ALIAS },
  // A minimal foreground runner for the runtime's own tests and benchmarks.
  { name: 'tools/run', alias: ALIAS },
  // berth-runtime, runc's command line (bin/berth-runtime.js requires it). CommonJS too: an
  // engine starts it 4-5 times per container (create, start, state, kill, delete).
  // koffi is loaded on first use (lazyKoffi): only create and exec make system calls.
  { name: 'oci/main', ext: 'cjs', format: 'cjs', alias: ALIAS, importMetaUrl: true, lazyKoffi: true },
];

/**
 * An esbuild plugin: `koffi` resolves to a stand-in whose properties require the real koffi
 * on first access, so a bundle that may make no system call does not load koffi (~50 ms of
 * Node start-up). Only for CommonJS bundles (a synchronous require).
 */
const lazyKoffi = {
  name: 'lazy-koffi',
  setup(build) {
    build.onResolve({ filter: /^koffi$/ }, (args) => (args.namespace === 'lazy-koffi' ? { path: 'koffi', external: true } : { path: 'koffi', namespace: 'lazy-koffi' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-koffi' }, () => ({
      contents: "let k; module.exports = new Proxy({}, { get: (_, p) => (k ??= require('koffi'))[p] });",
      loader: 'js',
    }));
  },
};

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** True when a bundle is missing or older than any source it may include. */
export function entrypointsStale(outdir = join(here, 'dist')) {
  const newest = Math.max(newestMtime(join(here, 'src')), newestMtime(ociSrc), newestMtime(fsRootSrc), newestMtime(sysSrc));
  return ENTRIES.some((e) => {
    try {
      return statSync(join(outdir, `${e.name}.${e.ext ?? 'js'}`)).mtimeMs < newest;
    } catch {
      return true;
    }
  });
}

/** Builds both bundles; each file is written to a temp name and renamed (safe with concurrent builders). */
export async function buildEntrypoints(outdir = join(here, 'dist')) {
  for (const e of ENTRIES) {
    const out = join(outdir, `${e.name}.${e.ext ?? 'js'}`);
    const tmp = `${out}.${process.pid}.tmp`;
    mkdirSync(dirname(out), { recursive: true });
    await esbuild.build({
      entryPoints: [join(here, 'src', `${e.name}.ts`)],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: e.format ?? 'esm',
      target: 'node20',
      external: ['koffi'],
      alias: e.alias,
      plugins: e.lazyKoffi ? [lazyKoffi] : [],
      // Bundled CommonJS code needs a require (not the lean init: it bundles none). A CommonJS
      // bundle of ES modules that use import.meta.url (bundledScript) gets it from __filename;
      // elsewhere @berth/sys's lazy koffi require names its module by import.meta.url (unused
      // where require exists).
      ...(e.format === 'cjs'
        ? e.importMetaUrl
          ? { define: { 'import.meta.url': '__berthImportMetaUrl' }, banner: { js: "const __berthImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" } }
          : { define: { 'import.meta.url': '__filename' } }
        : { banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" } }),
      logLevel: 'warning',
      legalComments: 'none',
    });
    renameSync(tmp, out);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildEntrypoints();
}
