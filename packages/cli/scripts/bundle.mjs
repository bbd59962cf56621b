#!/usr/bin/env node
// Bundles the berth CLI with esbuild, after `tsc` has built dist/ (npm run build):
//
//   dist/bin.js        the entry (package.json "bin" goes through bin/berth.js to it): main
//                      and the command table only.
//   dist/direct/<command>.cjs
//                      `berth images`, `berth ps` and `berth exec` as one self-contained CommonJS file each,
//                      which bin/berth.js requires (see DIRECT_CJS below).
//   dist/chunks/*.js   everything else, split so that each command's `import()` stays lazy
//                      (`berth ps` never loads the registry client, `berth pull` never loads
//                      the runtime or the build engine).
//   dist/init/main.cjs, dist/shim/main.js, dist/tools/run.js
//                      @berth/runtime's own bundles of the processes it spawns, rebuilt here
//                      by the runtime's build-entrypoints.mjs: the runtime's code is bundled
//                      into dist/chunks/, and its bundledScript() looks for them one
//                      directory up from the module that calls it (checked below).
//
// Why: unbundled, `berth pull` resolves, reads and compiles about 190 JavaScript files from the
// workspace packages' dist/ and node_modules; bundled it opens 14 (counted with strace), about
// 0.2 s less CPU at every start. Native addons (koffi, zstd-napi) stay external.
//
// The tsc output next to the bundle (dist/index.js, dist/*.d.ts) stays: it is the package's
// library entry. Each output file is written under a temporary name and renamed, and the
// chunks of earlier builds are removed only after the new bin.js is in place, so a berth
// process started during a build still finds what it imports.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '..');
const dist = path.join(pkg, 'dist');
const chunksDir = path.join(dist, 'chunks');

/**
 * V8 flags set by bin.js before anything else runs.
 *
 * --liftoff-only: undici parses HTTP with llhttp compiled to WebAssembly. By default V8
 * soon re-compiles its big state machine with TurboFan, which cost about 0.25 s of CPU and
 * 35 MB of RSS in every `berth pull` (measured on Node 20.20: one request 0.45 s → 0.22 s
 * CPU, 89 → 55 MB). The baseline (Liftoff) code parses a 220 MiB pull no slower: bodies go
 * through llhttp in whole chunks, not byte by byte. berth runs no other WebAssembly.
 */
const V8_FLAGS = ['--liftoff-only'];

// Bundled CommonJS dependencies (commander, undici, tar-stream…) call require() for node's
// built-in modules: give every ES module output a real one.
const REQUIRE_SHIM = "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);";

/**
 * @berth/oci's index re-exports its zod schemas (public API, used by @berth/builder). esbuild
 * splits code by file, so every command that imports @berth/oci would load schema.js and
 * zod with it (about 0.1 s of CPU), although only the build engine and the archive reader
 * (`berth load`, lazily) use them: berth itself parses manifests without zod (oci's
 * validate.js). Outside packages/builder and packages/archive, '@berth/oci'
 * resolves to the same index without the schema re-export; the modules behind it are the
 * same files, so there is still one BerthError class. Importing a schema from anywhere else
 * fails the build ("No matching export"), it does not break at run time.
 */
const ociWithoutSchemas = {
  name: 'berth-oci-without-schemas',
  setup(build) {
    build.onResolve({ filter: /^@berth\/oci$/ }, (args) => {
      if (/[\\/]packages[\\/](builder|archive)[\\/]/.test(args.importer)) return undefined;
      return { path: 'oci-without-schemas', namespace: 'berth-oci' };
    });
    build.onLoad({ filter: /.*/, namespace: 'berth-oci' }, async () => {
      const indexFile = fileURLToPath(import.meta.resolve('@berth/oci'));
      const text = readFileSync(indexFile, 'utf8');
      const schemaExport = /^export \{[^}]*\} from '\.\/schema\.js';$/m;
      if (!schemaExport.test(text)) throw new Error(`bundle: ${indexFile} no longer re-exports ./schema.js on one line; update ociWithoutSchemas`);
      const contents = text.replace(schemaExport, '').replace(/^\/\/# sourceMappingURL=.*$/m, '');
      if (contents.includes('schema.js')) throw new Error(`bundle: ${indexFile} imports ./schema.js in another way; update ociWithoutSchemas`);
      return { contents, resolveDir: path.dirname(indexFile), loader: 'js' };
    });
  },
};

/**
 * Built-in modules that two bundled dependencies require when they load but use only on paths
 * berth never takes: commander spawns `child_process` only for stand-alone executable
 * subcommands; undici uses `http2` only for HTTP/2 connections (berth never enables them) and
 * otherwise reads only `http2.constants` at load. Together they cost about 20 ms of CPU at every
 * start. For those importers, the module becomes a stand-in that loads the real one on first
 * use; `http2.constants` are copied from the real module at build time.
 */
const LAZY_BUILTINS = [
  { importer: /[\\/]node_modules[\\/]commander[\\/]/, module: 'child_process', eager: {} },
  { importer: /[\\/]node_modules[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/, module: 'http2', eager: { constants: 'constants' } },
];

const lazyBuiltins = {
  name: 'berth-lazy-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:)?(child_process|http2)$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      const rule = LAZY_BUILTINS.find((r) => r.module === name && r.importer.test(args.importer));
      return rule ? { path: name, namespace: 'berth-lazy-builtin' } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'berth-lazy-builtin' }, async (args) => {
      const rule = LAZY_BUILTINS.find((r) => r.module === args.path);
      const real = await import(`node:${args.path}`);
      const eager = Object.fromEntries(Object.entries(rule.eager).map(([k, from]) => [k, real[from]]));
      const contents = [
        `let real;`,
        `const load = () => (real ??= require('node:${args.path}'));`,
        `const eager = ${JSON.stringify(eager)};`,
        `module.exports = new Proxy({}, {`,
        `  get: (_, k) => (Object.hasOwn(eager, k) ? eager[k] : load()[k]),`,
        `  has: (_, k) => Object.hasOwn(eager, k) || k in load(),`,
        `  ownKeys: () => Reflect.ownKeys(load()),`,
        `  getOwnPropertyDescriptor: (_, k) => {`,
        `    const d = Object.getOwnPropertyDescriptor(load(), k);`,
        `    return d && { ...d, configurable: true };`,
        `  },`,
        `});`,
      ].join('\n');
      return { contents, loader: 'js' };
    });
  },
};

/**
 * The same for ES modules of berth that import a few functions of a built-in module at the top but
 * call them only on some paths: `node:crypto` (17 built-in modules, about 8 ms of CPU at a start)
 * for @berth/oci's Digest (hashing; `berth ps` only parses references) and the runtime's state
 * store (random ids and temp names; `ps` only reads). The importer gets an ES module whose named
 * functions load the real module on first call; importing a name not listed fails the build.
 */
const LAZY_FUNCTIONS = [
  { importer: /[\\/]packages[\\/]oci[\\/]dist[\\/]digest\.js$/, module: 'crypto', functions: ['createHash'] },
  { importer: /[\\/]packages[\\/]runtime[\\/]dist[\\/]lifecycle[\\/]state\.js$/, module: 'crypto', functions: ['randomBytes'] },
];

const lazyFunctions = {
  name: 'berth-lazy-functions',
  setup(build) {
    build.onResolve({ filter: /^(node:)?crypto$/ }, (args) => {
      const i = LAZY_FUNCTIONS.findIndex((r) => r.module === args.path.replace(/^node:/, '') && r.importer.test(args.importer));
      return i < 0 ? undefined : { path: String(i), namespace: 'berth-lazy-functions' };
    });
    build.onLoad({ filter: /.*/, namespace: 'berth-lazy-functions' }, (args) => {
      const rule = LAZY_FUNCTIONS[Number(args.path)];
      const contents = [
        `let real;`,
        `const load = () => (real ??= require('node:${rule.module}'));`,
        ...rule.functions.map((f) => `export function ${f}(...args) { return load().${f}(...args); }`),
      ].join('\n');
      return { contents, loader: 'js' };
    });
  },
};

/**
 * The esbuild options of the CLI bundle, for this script and for tools that build a variant
 * of it (bench/run-e2e.mjs adds timing marks): `extraPlugins` run before the bundle's own.
 */
export function cliBuildOptions({ outdir = dist, extraPlugins = [] } = {}) {
  return {
    absWorkingDir: pkg,
    entryPoints: { bin: 'src/bin.ts' },
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Native addons cannot be bundled; they resolve from node_modules at run time.
    external: ['koffi', 'zstd-napi'],
    banner: { js: REQUIRE_SHIM },
    // Less to parse at every start; names are kept for stack traces and error classes.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'none',
    sourcemap: 'linked',
    plugins: [...extraPlugins, ociWithoutSchemas, lazyBuiltins, lazyFunctions],
    logLevel: 'warning',
  };
}

/**
 * `berth images`, `berth ps` and `berth exec` (src/direct.ts's DIRECT_COMMANDS) also get one self-contained
 * CommonJS file each, dist/direct/<command>.cjs, which bin/berth.js requires: Node then never
 * starts its ES module loader, and the file holds only what that command loads. Measured against
 * the chunks: 0.78× (images) and 0.73× (ps) the CPU time (bench/RESULTS.md, "direct commands as
 * CommonJS").
 *
 * Without splitting, esbuild would inline every `import()` reachable from the command (undici,
 * yaml, zod, the whole runtime: 0.7 to 1.9 MB, slower than the chunks). So a dynamic import is
 * bundled only when it is one of the command's own modules below or a module of the CLI itself
 * (src/, small); node's built-ins are require()d (an import() would start the ES module loader); every other workspace package is loaded, when a
 * rare path needs it (a sweep that finds work, CNI results, a build tree), from its package
 * (`import('@berth/builder')`, its tsc output, unbundled). The other direct commands' modules are
 * never reached (the file runs only its own command) and become a stand-in that throws. A dynamic
 * import of a relative path inside another package must be named in RELATIVE_DYNAMIC (the package
 * entry that exports the same), or the build fails.
 */
const DIRECT_CJS = {
  images: ['./actions/images.js', '@berth/store'],
  ps: ['./actions/ps.js', '@berth/runtime/listing'],
  exec: ['./actions/lifecycle.js', '@berth/runtime/exec'],
};
const RELATIVE_DYNAMIC = [{ importer: /[\\/]packages[\\/]runtime[\\/]dist[\\/]listing\.js$/, path: './runtime.js', to: '@berth/runtime' }];
const IMPORT_META_URL = 'const __berthImportMetaUrl = require("node:url").pathToFileURL(__filename).href;';

function directCjsOnly(command) {
  const own = DIRECT_CJS[command];
  const others = Object.entries(DIRECT_CJS).flatMap(([name, mods]) => (name === command ? [] : mods));
  const cliSrc = path.join(pkg, 'src') + path.sep;
  return {
    name: 'berth-direct-cjs',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        // A built-in through require(): import() would start the ES module loader.
        if (args.path.startsWith('node:')) return { path: args.path, namespace: 'berth-direct-builtin' };
        if (own.includes(args.path)) return undefined;
        if (args.importer.endsWith(`${path.sep}direct.ts`) && others.includes(args.path)) return { path: args.path, namespace: 'berth-direct-other' };
        if (args.path.startsWith('.')) {
          if (args.importer.startsWith(cliSrc)) return undefined;
          const rule = RELATIVE_DYNAMIC.find((r) => r.path === args.path && r.importer.test(args.importer));
          if (!rule) return { errors: [{ text: `bundle: dist/direct/${command}.cjs: import('${args.path}') in ${args.importer}: name its package entry in RELATIVE_DYNAMIC` }] };
          return { path: rule.to, external: true };
        }
        return { path: args.path, external: true };
      });
      build.onLoad({ filter: /.*/, namespace: 'berth-direct-builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
      build.onLoad({ filter: /.*/, namespace: 'berth-direct-other' }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path} is not part of dist/direct/${command}.cjs`)});`, loader: 'js' }));
    },
  };
}

/** dist/direct/<command>.cjs (and its map) for each direct command, as esbuild output files. */
async function bundleDirectCjs() {
  const { DIRECT_COMMANDS } = await import(pathToFileURL(path.join(dist, 'direct.js')).href);
  const names = Object.keys(DIRECT_COMMANDS).sort();
  if (names.join() !== Object.keys(DIRECT_CJS).sort().join()) throw new Error(`bundle: DIRECT_CJS (${Object.keys(DIRECT_CJS)}) must name the direct commands of src/direct.ts (${names})`);
  const base = cliBuildOptions();
  const files = [];
  for (const command of names) {
    const result = await esbuild.build({
      ...base,
      entryPoints: undefined,
      outdir: undefined,
      chunkNames: undefined,
      stdin: { contents: "import './direct-entry.js';", resolveDir: path.join(pkg, 'src'), sourcefile: `direct-${command}.ts`, loader: 'ts' },
      outfile: path.join(dist, 'direct', `${command}.cjs`),
      splitting: false,
      format: 'cjs',
      banner: { js: IMPORT_META_URL },
      define: { 'import.meta.url': '__berthImportMetaUrl' },
      plugins: [directCjsOnly(command), ...base.plugins],
      write: false,
    });
    files.push(...result.outputFiles);
  }
  return files;
}

async function bundle() {
  return esbuild.build({ ...cliBuildOptions(), metafile: true, write: false });
}

function writeAtomic(file, contents) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/** Put `--liftoff-only` & co. at the top of bin.js (after its `#!` line), before its imports run anything heavy. */
export function withV8Flags(text) {
  const lines = text.split('\n');
  const at = lines[0]?.startsWith('#!') ? 1 : 0;
  lines.splice(at, 0, `import { setFlagsFromString as __berthSetFlags } from 'node:v8'; ${V8_FLAGS.map((f) => `__berthSetFlags(${JSON.stringify(f)});`).join(' ')}`);
  return lines.join('\n');
}

async function runtimeEntrypoints() {
  // The runtime package's directory (its "exports" only name the library entry).
  const runtimeDir = path.resolve(path.dirname(fileURLToPath(import.meta.resolve('@berth/runtime'))), '..');
  const { buildEntrypoints } = await import(pathToFileURL(path.join(runtimeDir, 'build-entrypoints.mjs')).href);
  await buildEntrypoints(dist);
  return runtimeDir;
}

function listFiles(dir, prefix = '') {
  let out = [];
  let entries;
  try {
    entries = readdirSync(path.join(dir, prefix), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out = out.concat(listFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}

/**
 * The runtime finds the scripts it spawns relative to the module that holds
 * `bundledScript` (lifecycle/host.ts): fail the build, not a later `berth run`,
 * if that module landed where they cannot be found.
 */
function checkRuntimeScripts(metafile, runtimeDir) {
  const hostSource = /packages\/runtime\/(dist|src)\/lifecycle\/host\.(js|ts)$/;
  const holders = Object.entries(metafile.outputs).filter(([, o]) => Object.keys(o.inputs).some((i) => hostSource.test(path.resolve(pkg, i).replaceAll(path.sep, '/'))));
  if (holders.length === 0) throw new Error(`bundle: @berth/runtime's lifecycle/host.js is not in the bundle (looked for it under ${runtimeDir})`);
  for (const [out] of holders) {
    for (const script of ['init/main.cjs', 'shim/main.js']) {
      const expected = path.join(path.dirname(path.resolve(pkg, out)), '..', script);
      try {
        statSync(expected);
      } catch {
        throw new Error(`bundle: ${out} holds the runtime's bundledScript(), which will look for ${expected}; it is missing`);
      }
    }
  }
}

async function main() {
  const result = await bundle();
  mkdirSync(chunksDir, { recursive: true });
  const runtimeDir = await runtimeEntrypoints();

  // Chunks (and their maps) first, then bin.js: a process that loads the new bin.js finds its chunks.
  const outputs = result.outputFiles.map((f) => ({ file: f.path, rel: path.relative(dist, f.path), contents: f.contents }));
  for (const o of outputs) if (o.rel !== 'bin.js' && o.rel !== 'bin.js.map') writeAtomic(o.file, o.contents);
  checkRuntimeScripts(result.metafile, runtimeDir);
  const binMap = outputs.find((o) => o.rel === 'bin.js.map');
  if (binMap) writeAtomic(binMap.file, binMap.contents);
  const bin = outputs.find((o) => o.rel === 'bin.js');
  if (!bin) throw new Error('bundle: esbuild wrote no bin.js');
  writeAtomic(bin.file, withV8Flags(Buffer.from(bin.contents).toString('utf8')));
  // bin/berth.js requires these for `berth images`, `berth ps` and `berth exec`; their fallback imports bin.js.
  const direct = await bundleDirectCjs();
  for (const f of direct) writeAtomic(f.path, f.contents);

  // Chunks of earlier builds.
  const keep = new Set(outputs.map((o) => o.rel));
  for (const f of listFiles(dist, 'chunks')) if (!keep.has(f)) rmSync(path.join(dist, f), { force: true });

  const size = outputs.filter((o) => o.rel.endsWith('.js')).reduce((n, o) => n + o.contents.length, 0);
  const directSizes = direct.filter((f) => f.path.endsWith('.cjs')).map((f) => `${path.basename(f.path)} ${(f.contents.length / 1024).toFixed(0)} KiB`);
  console.log(`bundle: dist/direct/{${directSizes.join(', ')}}`);
  console.log(`bundle: dist/bin.js + ${outputs.filter((o) => o.rel.startsWith('chunks/') && o.rel.endsWith('.js')).length} chunks (${(size / 1024).toFixed(0)} KiB), runtime scripts in dist/{init,shim,tools}`);
}

// Run as a script (npm run build); imported, it only provides cliBuildOptions and withV8Flags.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
