import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { RegistryClient } from '@berth/registry';
import type { Store } from '@berth/store';
import { locations, type Locations } from './env.js';

/** Where a command writes: the process's stdout or stderr, or a capturing stream in unit tests. */
export type OutputStream = Writable & { readonly isTTY?: boolean; readonly columns?: number };

/**
 * What a command's declaration and handler get (docker's `command.Cli`): the environment, the
 * three standard streams, the locations, and the store and registry client, opened on demand.
 * Every byte a command prints goes through `stdout`/`stderr` here, so a fake context captures it.
 */
export interface CommandContext {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: Readable & { readonly isTTY?: boolean };
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly loc: Locations;
  readonly storeDir: string;
  readonly snapshotsDir: string;
  readonly containersDir: string;
  /** Is stderr, where progress is drawn, an interactive terminal (progress lines) rather than a pipe or TERM=dumb (none)? */
  readonly interactive: boolean;
  store(): Promise<Store>;
  registry(): Promise<RegistryClient>;
  /** The exit code of the command that ran, set by its action when it returns; main() returns it. */
  exitCode: number | undefined;
}

export interface ContextOptions {
  env?: NodeJS.ProcessEnv;
  stdin?: CommandContext['stdin'];
  stdout?: OutputStream;
  stderr?: OutputStream;
}

/**
 * The process's CommandContext: what a command needs, opened lazily so a command pays only for
 * what it uses (`berth ps` never loads the registry client).
 */
export class Context implements CommandContext {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: CommandContext['stdin'];
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly loc: Locations;
  exitCode: number | undefined;
  private storePromise: Promise<Store> | undefined;
  private registryPromise: Promise<RegistryClient> | undefined;

  constructor(opts: ContextOptions = {}) {
    this.env = opts.env ?? process.env;
    this.stdin = opts.stdin ?? process.stdin;
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
    this.loc = locations(this.env);
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

  get interactive(): boolean {
    return Boolean(this.stderr.isTTY) && this.env['TERM'] !== 'dumb';
  }
}
