/**
 * The entry of dist/direct/<command>.cjs (scripts/bundle.mjs builds one self-contained CommonJS
 * file per direct command): bin/berth.js requires it for `berth images`, `berth ps` and `berth exec`, so these
 * start without Node's ES module loader (bench/RESULTS.md, "direct commands as CommonJS").
 * An argument list that is not a direct one (`--help`, `-aq`, an unknown flag) goes on to the
 * ES module CLI, dist/bin.js, which runs it as before.
 */
import { parseDirect, runDirect, settle } from './direct.js';

const direct = parseDirect(process.argv.slice(2));
// Relative to the bundled file (dist/direct/<command>.cjs); a variable, so that neither tsc nor
// esbuild resolves it.
const esmBin = '../bin.js';
// No top-level await: the file is CommonJS.
if (direct) void settle(runDirect(direct));
else void import(esmBin);
