import { BerthError, describeError } from '@berth/oci';
import { ExpandError } from './recipe/expand.js';
import { formatLocation, type SourceLocation } from './recipe/parse.js';

/** An error at a recipe location: `berth.yaml:5:5: steps[0].run: exited with 3` (`recipe: steps[0].run: …` for an object). */
export function located(loc: SourceLocation, where: string, err: unknown, fallback: 'EBUILD' | 'ERECIPE' | 'EIMAGE_UNKNOWN'): BerthError {
  const prefix = `${formatLocation(loc)}: ${where}: `;
  const details = { file: loc.file, ...(loc.line === undefined ? {} : { line: loc.line, column: loc.column }), path: where };
  if (err instanceof BerthError) {
    if (err.message.startsWith(`${loc.file}:`)) return err;
    return new BerthError(err.code, `${prefix}${err.message}`, { cause: err, details: { ...err.details, ...details } });
  }
  const code = err instanceof ExpandError ? 'ERECIPE' : fallback;
  return new BerthError(code, `${prefix}${describeError(err)}`, { cause: err, details });
}
