#!/usr/bin/env -S node --
// `node --`: node 20 reads `--env-file` anywhere in its arguments, even after the script
// (`berth run --env-file F` made node itself exit 9 when F was missing); `--` ends node's own.
// Committed entry point, so `npm ci` can link `berth` before anything is built.
import '../dist/bin.js';
