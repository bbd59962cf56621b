import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS } from '@berth/sys';
import type { NamespaceKind } from './types.js';

const NAMESPACE_FLAGS: Partial<Record<NamespaceKind, number>> = {
  pid: CLONE_NEWPID,
  mount: CLONE_NEWNS,
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  network: CLONE_NEWNET,
  cgroup: CLONE_NEWCGROUP,
};

/** The CLONE_NEW* flags of a spec's namespaces. */
export function namespaceFlags(namespaces: readonly NamespaceKind[]): number {
  let flags = 0;
  for (const ns of namespaces) flags |= NAMESPACE_FLAGS[ns] ?? 0;
  return flags;
}
