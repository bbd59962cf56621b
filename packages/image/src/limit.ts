/**
 * Run `fn` over `items` with at most `concurrency` running at once. The first
 * failure aborts `controller` (so running work can stop early) and, once every
 * started task has settled, is rethrown; tasks not yet started are skipped.
 */
export async function runBounded<T>(
  items: readonly T[],
  concurrency: number,
  controller: AbortController,
  fn: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && !controller.signal.aborted && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item, controller.signal);
      } catch (err) {
        if (!failure) {
          failure = { err };
          controller.abort(err);
        }
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(concurrency) || 1, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failure) throw failure.err;
}

/** An AbortController that also aborts when `parent` does. Call `dispose()` when done. */
export function linkedController(parent: AbortSignal | undefined): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  if (!parent) return { controller, dispose: () => undefined };
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}
