// @berth/runtime public API. Everything else under src/ is internal.

// runtime core: lifecycle, init child, syscalls
export { Runtime } from './runtime.js';
export type { RuntimeOptions, RunOptions, RunResult, ContainerProcess } from './runtime.js';
export { runCommand } from './command.js';
export type { RunCommandOptions, RunCommandResult } from './command.js';
export { newContainerId, isContainerId, canStart, canKill, canDelete, defaultStateRoot } from './lifecycle/state.js';
export type { ContainerInfo, ContainerState, ContainerStatus } from './lifecycle/state.js';
export type { LogEntry } from './lifecycle/logs.js';
export { signalNumber } from './lifecycle/kill.js';
export { startFailureExitCode } from './lifecycle/errors.js';
export { LibcSyscalls } from './sys/libc.js';
export { RecordingSyscalls, ExecveReached, ExitReached } from './sys/recording.js';
export type { RecordedCall, RecordingOptions, ScriptedFailure, FakeEntry } from './sys/recording.js';
export type { Syscalls, StatInfo, FileKind } from './sys/syscalls.js';
export { errnoName, syscallError } from './sys/errors.js';

// security, resources and spec
export { buildSpec } from './spec/build.js';
export type { BuildSpecOptions } from './spec/build.js';
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
// (end of security, resources and spec)
