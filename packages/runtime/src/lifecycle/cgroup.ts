import { createCgroupManager } from '../cgroups/manager.js';
import type { CgroupManagerOptions } from '../cgroups/types.js';
import type { CgroupProvider, ContainerCgroup } from './context.js';

/**
 * The default cgroup backend: the security engineer's CgroupManager (v1 or v2,
 * detected), one cgroup per container under `berth/<id>`.
 */
export function defaultCgroupProvider(options: CgroupManagerOptions = {}): CgroupProvider {
  const wrap = (m: ReturnType<typeof createCgroupManager>): ContainerCgroup => ({
    addProcess: (pid) => m.addProcess(pid),
    oomKills: async () => {
      const stats = await m.stats();
      return stats.oomKilled ? Math.max(1, stats.oomKills) : 0;
    },
    remove: () => m.remove(),
    freeze: () => m.freeze(),
    thaw: () => m.thaw(),
    update: (r) => m.update(r),
    pids: () => m.pids(),
    stats: () => m.stats(),
  });
  return {
    async create(id, resources) {
      const m = createCgroupManager(options);
      const r: Parameters<typeof m.create>[1] = { devices: resources.devices };
      if (resources.memory !== undefined) r.memory = resources.memory;
      if (resources.memorySwap !== undefined) r.memorySwap = resources.memorySwap;
      if (resources.cpus !== undefined) r.cpus = resources.cpus;
      if (resources.pidsLimit !== undefined) r.pidsLimit = resources.pidsLimit;
      await m.create(id, r);
      return wrap(m);
    },
    async open(id) {
      const m = createCgroupManager(options);
      m.open(id);
      return wrap(m);
    },
  };
}
