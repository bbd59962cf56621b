import { describe, expect, it } from 'vitest';
import { expand, ExpandError } from './expand.js';

const vars = new Map([
  ['VERSION', '1.0'],
  ['EMPTY', ''],
  ['PATH', '/usr/bin'],
]);

describe('expand', () => {
  it('substitutes $NAME and ${NAME} and keeps other text', () => {
    expect(expand('v$VERSION', vars)).toBe('v1.0');
    expect(expand('${VERSION}-x', vars)).toBe('1.0-x');
    expect(expand('$PATH:/opt/bin', vars)).toBe('/usr/bin:/opt/bin');
    expect(expand('no dollars', vars)).toBe('no dollars');
  });
  it('supports :- and :+ and $$', () => {
    expect(expand('${NOPE:-fallback}', vars)).toBe('fallback');
    expect(expand('${EMPTY:-fallback}', vars)).toBe('fallback');
    expect(expand('${VERSION:+set}', vars)).toBe('set');
    expect(expand('${NOPE:+set}', vars)).toBe('');
    expect(expand('${NOPE:-${VERSION}}', vars)).toBe('1.0');
    expect(expand('cost $$5 and $$VERSION', vars)).toBe('cost $5 and $VERSION');
    expect(expand('$1 $ end$', vars)).toBe('$1 $ end$');
  });
  it('refuses unknown names and bad substitutions', () => {
    expect(() => expand('$NOPE', vars)).toThrow(ExpandError);
    expect(() => expand('$NOPE', vars)).toThrow('$NOPE is not defined');
    expect(() => expand('${VERSION', vars)).toThrow('unterminated');
    expect(() => expand('${VERSION/x/y}', vars)).toThrow('bad substitution');
  });
});
