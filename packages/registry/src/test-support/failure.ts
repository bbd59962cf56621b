import { expect } from 'vitest';
import { BerthError } from '@berth/oci';

/**
 * Await `p`, which must reject with a BerthError whose message is one line; returns that
 * error so the test can check its code and text. Fails the test if `p` resolves.
 */
export async function failure(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as Error).message).not.toContain('\n');
    return err as BerthError;
  }
  throw new Error('expected a failure');
}

/** For `p.then(expectedFailure, (e) => e as BerthError)`: a promise that resolved fails the test. */
export function expectedFailure(): never {
  throw new Error('expected a failure');
}
