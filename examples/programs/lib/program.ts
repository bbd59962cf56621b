/**
 * What the three programs share. Each program file runs when loaded: it is
 * only ever an entry point (the tests import lib/, never the programs), so it
 * needs no "am I the main module?" test, which cannot work under vite-node
 * anyway (there `process.argv[1]` is vite-node itself, not the program).
 */

/**
 * The program's arguments: `process.argv` after the runner (node, tsx or
 * vite-node, which drops its own `--`), without a leading `--` if one is left.
 */
export function programArgs(): string[] {
  const args = process.argv.slice(2);
  return args[0] === '--' ? args.slice(1) : args;
}

/** Runs `main`; a failure prints `<name>: <message>` and exits 1. */
export function runProgram(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
