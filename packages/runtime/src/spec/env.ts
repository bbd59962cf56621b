/**
 * docker's ReplaceOrAppendEnvValues: a `KEY=value` replaces the entry with the
 * same key in place, or is appended; a bare `KEY` removes it.
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  const keyOf = (e: string): string => {
    const eq = e.indexOf('=');
    return eq < 0 ? e : e.slice(0, eq);
  };
  for (const e of overrides) {
    const key = keyOf(e);
    const at = out.findIndex((x) => keyOf(x) === key);
    if (!e.includes('=')) {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = e;
    else out.push(e);
  }
  return out;
}
