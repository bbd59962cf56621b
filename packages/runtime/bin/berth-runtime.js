#!/usr/bin/env node
// Committed entry point, so `npm ci` can link `berth-runtime` before anything is built.
import '../dist/oci/main.js';
