import { BerthError, Digest, MediaType, encodeJson, type ImageConfig, type Manifest } from '@berth/oci';
import type { Snapshots } from '@berth/rootfs';
import type { StageState } from './stages.js';
import type { TreeStack, Workspace } from './workspace.js';

/**
 * The trees of one build: the workspace (made on the first step that executes, so a fully cached
 * build touches no trees and loads neither @berth/rootfs nor @berth/layers), the stage trees made
 * in it, and the shared locks on the image snapshots they stand on. `dispose` gives all of it back.
 */
export class BuildTrees {
  private ws: Promise<Workspace> | undefined;
  private made: Workspace | undefined;
  private readonly stacks: TreeStack[] = [];
  private readonly releases: Array<() => void> = [];

  constructor(
    private readonly opts: {
      snapshots: Snapshots;
      /** Where build trees go (`$BERTH_ROOT/builds`). */
      root: string;
      mode: 'auto' | 'overlay' | 'copy';
    },
  ) {}

  /** The workspace, created on first use. */
  async workspace(): Promise<Workspace> {
    this.ws ??= import('./workspace.js').then(({ Workspace }) =>
      Workspace.create(this.opts.root, { lowerDirs: [this.opts.snapshots.root], mode: this.opts.mode }),
    );
    this.made ??= await this.ws;
    return this.made;
  }

  /** A copy-on-write fork of a stage's tree for a stage that starts `from` it, disposed with the build. */
  fork(stack: TreeStack): TreeStack {
    return this.track(stack.fork());
  }

  /** Forget the stage's tree: it no longer matches its layers (a cache hit added one). */
  async drop(state: StageState): Promise<void> {
    const s = state.stack;
    if (!s) return;
    delete state.stack;
    await s.dispose();
  }

  /** The tree for the stage's current layers: the one at hand, or one over the image snapshot (held with a shared lock). */
  async materialize(state: StageState): Promise<TreeStack> {
    if (state.stack) return state.stack;
    const ws = await this.workspace();
    const { TreeStack } = await import('./workspace.js');
    if (state.layers.length === 0) {
      state.stack = this.track(new TreeStack(ws, undefined));
      return state.stack;
    }
    const image = syntheticImage(state);
    const { snapshots } = this.opts;
    for (let attempt = 0; attempt < 3; attempt++) {
      const ensured = await snapshots.ensure({ image });
      const lock = await snapshots.lock(ensured.chainId, 'shared');
      if (!lock) continue;
      if (!(await snapshots.has(ensured.chainId))) {
        lock.release();
        continue;
      }
      this.releases.push(() => lock.release());
      state.stack = this.track(new TreeStack(ws, ensured.path));
      return state.stack;
    }
    throw new BerthError('EROOTFS', 'snapshot of the build base kept disappearing (concurrent gc?)');
  }

  /** A read-only view of a finished stage's tree, for `copy.from`. */
  async readView(state: StageState): Promise<string> {
    const view = await (await this.materialize(state)).readView();
    return view ?? (await (await this.workspace()).emptyDir());
  }

  /** Remove every tree and the workspace, and release the snapshot locks (also after a failure). */
  async dispose(): Promise<void> {
    for (const s of this.stacks.splice(0)) await s.dispose().catch(() => undefined);
    await this.made?.dispose();
    for (const r of this.releases.splice(0)) r();
  }

  private track(stack: TreeStack): TreeStack {
    this.stacks.push(stack);
    return stack;
  }
}

/** An image of the stage's layers so far, for `Snapshots.ensure` (only the layers and diff IDs matter). */
function syntheticImage(state: StageState): { manifest: Manifest; config: ImageConfig } {
  const config: ImageConfig = { architecture: state.platform.architecture, os: state.platform.os, rootfs: { type: 'layers', diff_ids: state.diffIds } };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: Digest.of(encodeJson(config)).toString(), size: encodeJson(config).length },
    layers: state.layers,
  };
  return { manifest, config };
}

