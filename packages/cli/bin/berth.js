#!/bin/sh
':' //; case "$1" in exec | images | ps) unset NODE_EXTRA_CA_CERTS ;; esac; exec node -- "$0" "$@"
// Committed entry point, so `npm ci` can link `berth` before anything is built. Both a shell
// script and CommonJS (bin/package.json), as @berth/runtime's bin/berth-runtime.js:
// - Run as a program, the shell line above starts node on this same file. For the direct
//   commands (below), which make no TLS connection, without NODE_EXTRA_CA_CERTS: Node parses
//   that certificate file at every start before any JavaScript runs (about 35 ms of CPU with
//   Debian's bundle, a third of a bare start; bench/RESULTS.md, "exec: a direct command").
//   `node --`: node 20 reads `--env-file` anywhere in its arguments, even after the script
//   (`berth run --env-file F` made node itself exit 9 when F was missing); `--` ends node's own.
//   To node, the line is a string and a comment.
// - `berth images`, `berth ps` and `berth exec` run from their own CommonJS bundle
//   (dist/direct/<command>.cjs, scripts/bundle.mjs) without Node's ES module loader; everything
//   else imports dist/bin.js. The names are src/direct.ts's DIRECT_COMMANDS (startup.test.ts
//   checks both lists).
'use strict';
const command = process.argv[2];
if (command === 'exec' || command === 'images' || command === 'ps') require(`../dist/direct/${command}.cjs`);
else import('../dist/bin.js');
