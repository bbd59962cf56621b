// @berth/runtime public API. Everything else under src/ is internal.

// runtime core: lifecycle, init child, syscalls
export { Runtime } from './runtime.js';
export type { RuntimeOptions, RunOptions, RunResult, ContainerProcess } from './runtime.js';
export type { ContainerIo } from './lifecycle/start.js';
export type { AttachOptions, AttachResult } from './lifecycle/attach.js';
export { DEFAULT_DETACH_KEYS, parseDetachKeys } from './launch/detach-keys.js';
export { runCommand } from './command.js';
export type { RunCommandOptions, RunCommandResult } from './command.js';
export { newContainerId, isContainerId, checkName, canStart, canKill, canDelete, defaultStateRoot } from './lifecycle/state.js';
export type { ContainerInfo, ContainerState, ContainerStatus, LogDriver } from './lifecycle/state.js';
export { parseRestartPolicy, formatRestartPolicy, refuseAttachedStart, RestartManager, hasRestartPolicy } from './lifecycle/restart-policy.js';
export type { RestartPolicy, RestartPolicyName, RunEnd } from './lifecycle/restart-policy.js';
export type { LogEntry, LogsOptions } from './lifecycle/logs.js';
export type { ContainerStats } from './lifecycle/stats.js';
export type { PrepareRequest } from './lifecycle/create.js';
export type { ExecRequest } from './lifecycle/exec.js';
export type { EarlyExec } from './lifecycle/exec-early.js';
export type { SweepOptions, SweepResult, PruneResult } from './lifecycle/sweep.js';
export { signalNumber } from './lifecycle/kill.js';
export { startFailureExitCode } from './lifecycle/errors.js';
export { LibcSyscalls } from '@berth/sys';
export { RecordingSyscalls, ExecveReached, ExitReached } from '@berth/sys';
export type { RecordedCall, RecordingOptions, ScriptedFailure, FakeEntry } from '@berth/sys';
export type { Syscalls, StatInfo, FileKind } from '@berth/sys';
export { errnoName, syscallError } from '@berth/sys';

// security, resources and spec
export { buildSpec, checkRunOverrides, DEFAULT_PATH, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './spec/build.js';
export { mergeEnv } from './spec/env.js';
export type { BuildSpecOptions, CheckRunOverridesOptions } from './spec/build.js';
export type {
  ContainerSpec,
  ProcessSpec,
  UserSpec,
  CapabilitySpec,
  RlimitSpec,
  MountSpec,
  NetworkMode,
  NamespaceKind,
  ResourceSpec,
  RunOverrides,
} from './spec/types.js';
export { resolveUser, resolveGroups } from './spec/user.js';
export type { ResolvedUser, ResolveUserOptions } from './spec/user.js';
export { resolveInRoot, readContainedFile } from './spec/contained.js';
export {
  parseBytes,
  parseMemory,
  parseMemorySwap,
  parseCpus,
  parsePidsLimit,
  parseVolume,
  parseTmpfs,
  parseEnvFile,
  parseSecurityOpts,
} from './spec/parse.js';
export type { SecurityOptions } from './spec/parse.js';
export { applyProcessSecurity, readLastCap } from './security/apply.js';
export type { ApplySecurityOptions, AppliedSecurity } from './security/apply.js';
export {
  CAPABILITIES,
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  normaliseCapability,
  resolveCapabilities,
  capMask,
  capNames,
  capabilityMasks,
} from './security/capabilities.js';
export type { CapabilityMasks, ResolveCapabilitiesOptions } from './security/capabilities.js';
export { defaultSeccompProfile, resolveSeccompProfile, parseDockerSeccompProfile, allowedSyscalls } from './security/seccomp.js';
export type { DockerSeccompProfile, DockerSeccompRule, ResolveSeccompOptions } from './security/seccomp.js';
export type { SeccompProfile, SeccompRule, SeccompArg, SeccompAction, SeccompOperator } from './security/seccomp-types.js';
export { compileSeccomp } from './security/libseccomp.js';
export type { CompiledSeccomp } from './security/libseccomp.js';
export { RLIMITS, parseUlimit } from './security/rlimits.js';
export { LibcSecuritySyscalls } from '@berth/sys';
export type { SecuritySyscalls, CapabilityState, RlimitValue } from '@berth/sys';
export { createCgroupManager } from './cgroups/manager.js';
export { detectCgroupVersion } from './cgroups/io.js';
export { CgroupV1Manager } from './cgroups/v1.js';
export { DEFAULT_DEVICE_RULES, buildDeviceProgram, parseDeviceRule } from './cgroups/devices.js';
export type { DeviceRule } from './cgroups/devices.js';
export { CgroupV2Manager } from './cgroups/v2.js';
export type { CgroupManager, CgroupManagerOptions, CgroupResources, CgroupStats, CgroupIo, LimitChange } from './cgroups/types.js';
// (end of security, resources and spec)
