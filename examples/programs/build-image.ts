/**
 * Build an image programmatically (the work is in lib/build-image.ts). Needs
 * root (run steps execute in containers) and alpine:3.20 in the store
 * (`berth pull alpine:3.20` or `berth load`).
 *
 *   npm run build && sudo npx vite-node examples/programs/build-image.ts -- localhost/hello:1
 */
import { buildHello } from './lib/build-image.js';
import { programArgs, runProgram } from './lib/program.js';

runProgram('build-image', async () => {
  const tag = programArgs()[0] ?? 'localhost/hello:latest';
  const result = await buildHello({
    tag,
    onEvent: (e) => {
      if (e.type === 'step') process.stdout.write(`${e.text}\n`);
      if (e.type === 'step-done') process.stdout.write(`  ${e.cached ? 'CACHED' : `${e.ms} ms`}\n`);
      if (e.type === 'output') process.stdout.write(e.data);
    },
  });
  process.stdout.write(`${tag} ${result.digest}\n`);
});
