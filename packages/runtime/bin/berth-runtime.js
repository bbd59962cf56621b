#!/bin/sh
':' //; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// Committed entry point, so `npm ci` can link `berth-runtime` before anything is built.
// Both a shell script and CommonJS (bin/package.json). Run as a program, the shell line above
// starts node on this same file without NODE_EXTRA_CA_CERTS: with it set, Node parses that
// certificate file at every start (~35 ms of CPU per start with Debian's bundle, of ~100), and
// berth-runtime makes no TLS connection; nothing it starts inherits its environment (the init,
// the exec child and the hooks get theirs from the bundle). To node, the line is a string and
// a comment; `node bin/berth-runtime.js` (the tests) runs the runtime with the environment as is.
// Node loads it and the CommonJS bundle without its ES module loader.
require('../dist/oci/main.cjs');
