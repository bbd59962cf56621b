import { expect } from 'vitest';
import { BerthError } from '@berth/oci';

/** Await `p`, which must reject with a BerthError; returns it so the test can check its code and message. */
export async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a rejection');
}
