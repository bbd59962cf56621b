/**
 * Pull an image and list its files (the work is in lib/list-files.ts):
 *
 *   npm run build && npx vite-node examples/programs/list-files.ts -- alpine:3.20
 *
 * Uses $BERTH_ROOT (default /var/lib/berth as root) and the registry config
 * (BERTH_CONFIG / /etc/berth/config.yaml: mirrors, insecure hosts).
 */
import { listImageFiles } from './lib/list-files.js';
import { programArgs, runProgram } from './lib/program.js';

runProgram('list-files', async () => {
  const [ref] = programArgs();
  if (!ref) {
    process.stderr.write('usage: list-files.ts IMAGE\n');
    process.exit(2);
  }
  for (const f of await listImageFiles({ reference: ref })) {
    const mode = f.mode.toString(8).padStart(4, '0');
    process.stdout.write(`${f.type.padEnd(7)} ${mode} ${String(f.size).padStart(9)} ${f.path}${f.target ? ` -> ${f.target}` : ''}\n`);
  }
});
