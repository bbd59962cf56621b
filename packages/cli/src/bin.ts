#!/usr/bin/env -S node --
// `node --`: node 20 reads `--env-file` anywhere in its arguments, even after the script
// (`berth run --env-file F` made node itself exit 9 when F was missing); `--` ends node's own.
// Kept tiny: everything else is imported lazily so `berth run` starts fast.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`berth: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
