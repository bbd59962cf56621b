import type { Platform } from './schema.js';
import { BerthError } from './errors.js';

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The platform of this host, in OCI terms (`linux/amd64`, `linux/arm64/v8`). */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as unknown as Record<string, unknown>)['arm_version'];
    p.variant = `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}`;
  }
  return p;
}

/** Parse `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform(input: string): Platform {
  const parts = input.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0 || !/^[a-zA-Z0-9._-]+$/.test(p))) {
    throw new BerthError('EINVAL_PLATFORM', `invalid platform ${JSON.stringify(input)}: expected os/arch[/variant], e.g. linux/amd64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  const p: Platform = { os: os.toLowerCase(), architecture: normaliseArch(architecture.toLowerCase()) };
  if (variant) p.variant = variant.toLowerCase();
  return normalisePlatform(p);
}

function normaliseArch(arch: string): string {
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
      return 'amd64';
    case 'aarch64':
      return 'arm64';
    case 'i386':
      return '386';
    default:
      return arch;
  }
}

/** Fill in implied variants so equal platforms compare equal (`arm64` → `arm64/v8`, `arm` → `arm/v7`). */
export function normalisePlatform(p: Platform): Platform {
  const out: Platform = { ...p, architecture: normaliseArch(p.architecture) };
  if (out.architecture === 'arm64' && !out.variant) out.variant = 'v8';
  if (out.architecture === 'arm' && !out.variant) out.variant = 'v7';
  if (out.architecture === 'amd64' && out.variant === 'v1') delete out.variant;
  if (!out.variant) delete out.variant;
  return out;
}

/** `os/arch[/variant]` */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

/** Attestation and other non-runnable index entries (`unknown/unknown`). */
export function isUnknownPlatform(p: Platform | undefined): boolean {
  return !p || p.os === 'unknown' || p.architecture === 'unknown';
}

/**
 * Does `candidate` satisfy `wanted`? `arm64` equals `arm64/v8`; `amd64` ignores
 * a missing variant; `unknown/unknown` entries never match.
 */
export function platformMatches(wanted: Platform, candidate: Platform | undefined): boolean {
  if (isUnknownPlatform(candidate)) return false;
  const w = normalisePlatform(wanted);
  const c = normalisePlatform(candidate as Platform);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant && c.variant && w.variant !== c.variant) return false;
  if (w.variant && !c.variant && w.architecture !== 'amd64') return false;
  if (w['os.version'] && c['os.version'] && w['os.version'] !== c['os.version']) return false;
  return true;
}

/**
 * Pick the best entry of an index for a platform: exact variant first, then a
 * compatible one. Entries without a platform or with `unknown/unknown` are skipped.
 */
export function selectPlatform<T extends { platform?: Platform | undefined }>(entries: readonly T[], wanted: Platform): T | undefined {
  const w = normalisePlatform(wanted);
  const matches = entries.filter((e) => platformMatches(w, e.platform));
  const exact = matches.find((e) => normalisePlatform(e.platform as Platform).variant === w.variant);
  return exact ?? matches[0];
}

/** The platforms an index offers, formatted and without duplicates (attestations left out): what ENO_MATCHING_PLATFORM lists. */
export function availablePlatforms(entries: readonly { platform?: Platform | undefined }[]): string[] {
  return [...new Set(entries.filter((m) => !isUnknownPlatform(m.platform)).map((m) => formatPlatform(normalisePlatform(m.platform as Platform))))];
}

/** An image config's platform: os, architecture, and variant and os.version when it has them. */
export function configPlatform(config: { os: string; architecture: string; variant?: string | undefined; 'os.version'?: string | undefined }): Platform {
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) p.variant = config.variant;
  if (config['os.version']) p['os.version'] = config['os.version'];
  return p;
}
