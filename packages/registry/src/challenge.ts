/** One `WWW-Authenticate` challenge: a scheme and its auth-params (names lowercased). */
export interface AuthChallenge {
  /** Lowercased scheme: `bearer`, `basic`, ... */
  scheme: string;
  params: Record<string, string>;
  /** A token68 value if the challenge carried one instead of params. */
  token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parse `WWW-Authenticate` header values (RFC 9110 §11.6.1): several challenges
 * per header, quoted-string params with escapes and commas inside quotes, and
 * several headers. Malformed input never throws; the parser keeps what it can.
 */
export function parseWwwAuthenticate(values: string | readonly string[] | undefined): AuthChallenge[] {
  if (values === undefined) return [];
  const list = typeof values === 'string' ? [values] : values;
  const out: AuthChallenge[] = [];
  for (const v of list) out.push(...parseOne(v));
  return out;
}

function parseOne(input: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = input.length;
  const skipWs = (): void => {
    while (i < n && (input[i] === ' ' || input[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(input[i] as string)) i++;
    return input.slice(start, i);
  };
  const readQuoted = (): string => {
    // at opening quote
    i++;
    let s = '';
    while (i < n) {
      const c = input[i] as string;
      if (c === '\\' && i + 1 < n) {
        s += input[i + 1];
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        break;
      }
      s += c;
      i++;
    }
    return s;
  };

  let current: AuthChallenge | undefined;
  // True right after a scheme was read, until a comma or a param: a bare token there is a token68.
  let afterScheme = false;
  while (i < n) {
    skipWs();
    if (input[i] === ',') {
      i++;
      afterScheme = false;
      continue;
    }
    const start = i;
    const tok = readToken();
    if (tok === '') {
      i++; // an unexpected character: skip it and carry on
      continue;
    }
    skipWs();
    if (current && input[i] === '=') {
      let j = i;
      while (j < n && input[j] === '=') j++;
      const equals = j - i;
      let k = j;
      while (k < n && (input[k] === ' ' || input[k] === '\t')) k++;
      const atEnd = k >= n || input[k] === ',';
      if (equals === 1 && !(atEnd && afterScheme)) {
        // auth-param: name=token or name="quoted"
        i = k;
        current.params[tok.toLowerCase()] = input[i] === '"' ? readQuoted() : readToken();
        afterScheme = false;
        continue;
      }
      // token68 ending in '=' padding (`abc==`)
      current.token68 = input.slice(start, j);
      i = j;
      afterScheme = false;
      continue;
    }
    if (current && afterScheme) {
      current.token68 = tok; // `Negotiate abc123`
      afterScheme = false;
      continue;
    }
    current = { scheme: tok.toLowerCase(), params: {} };
    out.push(current);
    afterScheme = true;
  }
  return out;
}

/** The first challenge with a scheme we can answer (Bearer preferred over Basic). */
export function pickChallenge(challenges: readonly AuthChallenge[]): AuthChallenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}
