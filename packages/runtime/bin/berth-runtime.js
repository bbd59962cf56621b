#!/usr/bin/env node
// Committed entry point, so `npm ci` can link `berth-runtime` before anything is built.
// CommonJS (bin/package.json): Node loads it and the CommonJS bundle without its ES module loader.
require('../dist/oci/main.cjs');
