#!/usr/bin/env node
// Committed entry point, so `npm ci` can link `berth` before anything is built.
import '../dist/bin.js';
