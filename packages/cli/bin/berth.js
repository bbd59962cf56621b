#!/usr/bin/env -S node --
// `node --`: node 20 reads `--env-file` anywhere in its arguments, even after the script
// (`berth run --env-file F` made node itself exit 9 when F was missing); `--` ends node's own.
// Committed entry point, so `npm ci` can link `berth` before anything is built. CommonJS
// (bin/package.json): `berth images` and `berth ps` run from their own CommonJS bundle
// (dist/direct/<command>.cjs, scripts/bundle.mjs) without Node's ES module loader; everything
// else imports dist/bin.js. The names are src/direct.ts's DIRECT_COMMANDS (startup.test.ts checks).
'use strict';
const command = process.argv[2];
if (command === 'images' || command === 'ps') require(`../dist/direct/${command}.cjs`);
else import('../dist/bin.js');
