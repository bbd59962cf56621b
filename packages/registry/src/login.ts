import { BerthError } from '@berth/oci';
import { RegistryClient } from './client.js';
import { loadRegistryConfig, normaliseRegistryHost } from './config.js';
import { dockerConfigDir, updateDockerAuth } from './credentials.js';

/**
 * `docker login`: check the credentials against the registry (ping, then Basic
 * or a token request with them), then store them as an `auths` entry in
 * `configDir/config.json` (default `$DOCKER_CONFIG` or `~/.docker`), written
 * atomically with mode 0600, other keys kept. Bad credentials: EUNAUTHORIZED, nothing written.
 */
export async function login(opts: { registry: string; username: string; password: string; configDir?: string; verify?: RegistryClient }): Promise<void> {
  const registry = normaliseRegistryHost(opts.registry);
  if (!opts.username || opts.username.includes(':')) {
    throw new BerthError('EINVAL_ARGUMENT', `log in to ${registry}: the username must be non-empty and contain no ":"`);
  }
  if (!opts.password) throw new BerthError('EINVAL_ARGUMENT', `log in to ${registry}: empty password`);
  let client = opts.verify;
  const own = !client;
  if (!client) client = new RegistryClient({ config: await loadRegistryConfig() });
  try {
    await client.verifyCredentials(registry, { username: opts.username, password: opts.password });
  } finally {
    if (own) await client.close();
  }
  await updateDockerAuth({
    configDir: opts.configDir ?? dockerConfigDir(),
    registry,
    entry: { auth: Buffer.from(`${opts.username}:${opts.password}`).toString('base64') },
  });
}

/** `docker logout`: remove the stored `auths` entry (every key form of the host). True if one was removed. */
export async function logout(opts: { registry: string; configDir?: string }): Promise<boolean> {
  return updateDockerAuth({ configDir: opts.configDir ?? dockerConfigDir(), registry: opts.registry, entry: undefined });
}
