import { normaliseRegistryHost, type RegistryConfig, type RegistryHostConfig } from './config.js';

/** Docker Hub's API endpoint for references naming `docker.io`. */
export const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io';

/** One place to talk to for a registry: the registry itself or one of its mirrors. */
export interface Endpoint {
  /** The registry (as in references) this endpoint serves. */
  registry: string;
  /** host[:port] of this endpoint: names it in errors and selects credentials and TLS settings. */
  host: string;
  /** Origins to try in order on first contact (`https://h` then `http://h` for loopback and insecure hosts). */
  candidates: string[];
  mirror: boolean;
}

export function isLoopbackHost(host: string): boolean {
  let h = host.toLowerCase();
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']'));
  else if (h.includes(':') && h.split(':').length === 2) h = h.slice(0, h.indexOf(':'));
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The key of an endpoint's cached state (scheme, challenge, credentials, mirror health). */
export function endpointKey(ep: Endpoint): string {
  return ep.candidates.join(' ');
}

export function hostConfig(config: RegistryConfig, host: string): RegistryHostConfig {
  return config.registries[normaliseRegistryHost(host)] ?? {};
}

/** Endpoints for a registry: mirrors first (pulls only), then the registry itself. */
export function endpointsFor(config: RegistryConfig, registry: string, purpose: 'pull' | 'push'): Endpoint[] {
  const reg = normaliseRegistryHost(registry);
  const cfg = hostConfig(config, reg);
  const out: Endpoint[] = [];
  if (purpose === 'pull') {
    for (const m of cfg.mirrors ?? []) {
      const u = new URL(m);
      out.push({ registry: reg, host: u.host, candidates: [u.origin], mirror: true });
    }
  }
  if (reg === 'docker.io') {
    out.push({ registry: reg, host: 'docker.io', candidates: [DOCKER_HUB_ENDPOINT], mirror: false });
  } else if (cfg.insecure || (isLoopbackHost(reg) && !cfg.ca)) {
    out.push({ registry: reg, host: reg, candidates: [`https://${reg}`, `http://${reg}`], mirror: false });
  } else {
    out.push({ registry: reg, host: reg, candidates: [`https://${reg}`], mirror: false });
  }
  return out;
}

/** The host an endpoint's errors are named by (`registry-1.docker.io`, `127.0.0.1:5000`). */
export function endpointHost(ep: Endpoint): string {
  try {
    return new URL(ep.candidates[0] ?? `https://${ep.host}`).host;
  } catch {
    return ep.host;
  }
}
