#!/usr/bin/env node
// Checks that every test file (*.test.ts outside node_modules and dist/) belongs to exactly
// one vitest project (unit, integration, cli in vitest.config.ts), asking vitest itself
// which project's globs match. A file in no project would never run; a file in two would
// run twice. Prints one line per offending file and exits 1; silent and 0 when all is well.
// `npm test` (scripts/test.mjs) runs it first; packages/testing/src/projects.test.ts too.
// Usage: node scripts/check-test-projects.mjs [repo root] (default: this repository).
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '../..'));
const SKIP = new Set(['node_modules', 'dist', '.git', '.turbo']);

function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const { createVitest } = await import(join(root, 'node_modules/vitest/dist/node.js'));
const vitest = await createVitest('test', { root, watch: false, run: false, reporters: [] });
let bad = 0;
try {
  for (const file of testFiles(root).sort()) {
    const projects = vitest.projects.filter((p) => p.matchesTestGlob(file)).map((p) => p.name);
    if (projects.length === 1) continue;
    bad++;
    const rel = relative(root, file);
    console.error(
      projects.length === 0
        ? `test projects: ${rel} is in no project (name it by the rule in ARCHITECTURE.md, "Tests")`
        : `test projects: ${rel} is in ${projects.length} projects (${projects.join(', ')})`,
    );
  }
} finally {
  await vitest.close();
}
process.exit(bad > 0 ? 1 : 0);
