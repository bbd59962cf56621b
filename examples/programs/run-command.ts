/**
 * Run a command in a container and print what it wrote; exits with its exit
 * code (the work is in lib/run-command.ts). Needs root.
 *
 *   npm run build && sudo npx vite-node examples/programs/run-command.ts -- alpine:3.20 cat /etc/os-release
 */
import { runAndCapture } from './lib/run-command.js';
import { programArgs, runProgram } from './lib/program.js';

runProgram('run-command', async () => {
  const [image, ...command] = programArgs();
  if (!image || command.length === 0) {
    process.stderr.write('usage: run-command.ts IMAGE COMMAND [ARG...]\n');
    process.exit(2);
  }
  const r = await runAndCapture({ image, command });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.exitCode;
});
