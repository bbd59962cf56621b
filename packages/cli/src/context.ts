import { join } from 'node:path';
import type { RegistryClient } from '@berth/registry';
import type { Store } from '@berth/store';
import { locations, type Locations } from './env.js';

/**
 * What a command needs, opened lazily so a command pays only for what it uses
 * (`berth ps` never loads the registry client).
 */
export class Context {
  readonly loc: Locations;
  private storePromise: Promise<Store> | undefined;
  private registryPromise: Promise<RegistryClient> | undefined;

  constructor(
    readonly env: NodeJS.ProcessEnv = process.env,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.loc = locations(env);
  }

  get storeDir(): string {
    return join(this.loc.root, 'store');
  }

  get snapshotsDir(): string {
    return join(this.loc.root, 'snapshots');
  }

  get containersDir(): string {
    return join(this.loc.root, 'containers');
  }

  store(): Promise<Store> {
    // $BERTH_ROOT is owner-only (0700, like /var/lib/docker); one made by an older berth is repaired here.
    this.storePromise ??= import('@berth/store').then(async ({ Store, securePrivateRoot }) => {
      await securePrivateRoot(this.loc.root, { dirs: ['snapshots', 'containers', 'builds'], trees: ['buildcache'], known: ['store'] });
      return Store.open({ root: this.storeDir });
    });
    return this.storePromise;
  }

  registry(): Promise<RegistryClient> {
    this.registryPromise ??= import('@berth/registry').then(async ({ RegistryClient, DockerConfigCredentials, loadRegistryConfig }) => {
      const config = await loadRegistryConfig({ env: this.env, ...(this.loc.config ? { path: this.loc.config } : {}) });
      return new RegistryClient({ config, credentials: new DockerConfigCredentials() });
    });
    return this.registryPromise;
  }

  /** Is stderr, where progress is drawn, an interactive terminal (progress lines) rather than a pipe or TERM=dumb (none)? */
  get interactive(): boolean {
    return Boolean(this.stderr.isTTY) && this.env['TERM'] !== 'dumb';
  }
}
