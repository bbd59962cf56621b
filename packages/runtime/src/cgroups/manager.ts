import { detectCgroupVersion } from './io.js';
import type { CgroupManager, CgroupManagerOptions } from './types.js';
import { CgroupV1Manager } from './v1.js';
import { CgroupV2Manager } from './v2.js';

/**
 * The cgroup manager for this machine: v2 when the root is a cgroup2 mount
 * (or a tree with cgroup.controllers), else v1 (including hybrid systems,
 * whose controllers live in v1 hierarchies).
 */
export function createCgroupManager(options: CgroupManagerOptions = {}): CgroupManager {
  const version = options.version ?? detectCgroupVersion(options.root ?? '/sys/fs/cgroup');
  return version === 2 ? new CgroupV2Manager(options) : new CgroupV1Manager(options);
}
