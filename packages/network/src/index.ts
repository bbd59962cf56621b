export {
  CNI_VERSION,
  DEFAULT_CNI_PATH,
  addNetwork,
  checkNetwork,
  delNetwork,
  findPlugin,
  getCachedAttachment,
  invokePlugin,
  listCachedAttachments,
  pluginVersions,
  validateConfList,
} from './cni.js';
export type { CachedAttachment, CniCommand, CniOptions, CniPluginConf, CniRuntimeConf, InvokeOptions, NetworkConfList } from './cni.js';
export { containerAddresses, parseCniError, parseCniResult } from './result.js';
export type { CniDNS, CniError, CniIPConfig, CniInterface, CniResult, CniRoute } from './result.js';
export { createNetns, isNetnsMounted, netnsDir, netnsPath, removeNetns, sweepNetns } from './netns.js';
export { hostPortFree, parsePublishSpec, publishAllSpecs, resolvePortMappings } from './ports.js';
export type { PortMapping, PortProtocol, PortSpec, ResolvePortsOptions } from './ports.js';
export { DEFAULT_IPV4_DNS, DEFAULT_IPV6_DNS, containerHosts, containerResolvConf, hostEtcFiles, isolatedEtcFiles, parseResolvConf, readHostResolvConf, readHostResolvConfSync, upstreamNameservers } from './dns.js';
export type { ContainerHostsOptions, ContainerResolvOptions, ResolvConf } from './dns.js';
export { formatSubnet, hostRoutes, parseSubnet, pickSubnet, subnetPool, subnetsOverlap } from './subnet.js';
export type { Subnet } from './subnet.js';
export { DEFAULT_BRIDGE, DEFAULT_NETWORK, NetworkStore, cniCacheDir, deleteLink, ipamDataDir, loopbackConfList } from './store.js';
export type { CreateNetworkOptions, NetworkDef, NetworkStoreOptions } from './store.js';
export { attachmentCapabilities, checkMac, publishedPorts, setupContainerNetwork, sweepContainerNetworks, teardownContainerNetwork } from './attach.js';
export type { AttachRequest, Attachment, ContainerNetwork, NetworkPaths, SetupOptions } from './attach.js';
export { addResolverEntry, findAardvark, removeResolverEntries, resolverRoot, resolverRunning, sweepResolvers } from './resolver.js';
export type { ResolverEntry, ResolverTarget } from './resolver.js';
export { LOCALNET_GUARD_COMMENT, ensureLocalnetGuard, removeLocalnetGuard } from './guard.js';
