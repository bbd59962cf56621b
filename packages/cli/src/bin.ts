#!/usr/bin/env -S node --
// `node --`: node 20 reads `--env-file` anywhere in its arguments, even after the script
// (`berth run --env-file F` made node itself exit 9 when F was missing); `--` ends node's own.
// Kept tiny: `berth --version` is answered here, as commander would (the version and a newline
// on stdout, exit 0), without loading the CLI; `berth images`, `berth ps` and `berth exec` with their own flags
// run without commander (direct.ts); everything else imports main and, through it, only the
// command that runs.
import { parseDirect, runDirect, settle } from './direct.js';
import { BERTH_VERSION } from './version-string.js';

const argv = process.argv.slice(2);
const direct = parseDirect(argv);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`${BERTH_VERSION}\n`);
} else {
  await settle(direct ? runDirect(direct) : import('./main.js').then(({ main }) => main(argv)));
}
