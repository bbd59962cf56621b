// Module hooks that let a plain `node` child process import berth's TypeScript
// sources directly (tests only): `@berth/oci` → packages/oci/src/errors.ts (as
// in the init bundle: the security modules use only its errors; this keeps zod
// out of the child), other `@berth/<pkg>` → packages/<pkg>/src/index.ts,
// `./x.js` imported from a .ts file → ./x.ts, and .ts files transpiled with
// TypeScript's transpileModule (types are stripped, nothing is checked).
// Used by tests that must run berth code in a process of its own (seccomp and
// credentials apply to the process that loads them).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const packagesDir = fileURLToPath(new URL('../../../../', import.meta.url));

export async function resolve(specifier, context, next) {
  const pkg = /^@berth\/([a-z]+)$/.exec(specifier);
  if (pkg) {
    const file = pkg[1] === 'oci' ? 'errors.ts' : 'index.ts';
    return { url: pathToFileURL(`${packagesDir}${pkg[1]}/src/${file}`).href, shortCircuit: true };
  }
  if (specifier.endsWith('.js') && context.parentURL?.endsWith('.ts') && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const candidate = fileURLToPath(new URL(specifier, context.parentURL)).replace(/\.js$/, '.ts');
    if (existsSync(candidate)) return { url: pathToFileURL(candidate).href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = await readFile(fileURLToPath(url), 'utf8');
  const out = ts.transpileModule(source, {
    fileName: fileURLToPath(url),
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      sourceMap: false,
    },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
