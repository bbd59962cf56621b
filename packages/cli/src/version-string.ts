/**
 * berth's version (`berth --version`, `berth version`). A module of its own, with no imports:
 * bin.js answers `--version` from it without loading the CLI.
 */
export const BERTH_VERSION = '0.1.0';
