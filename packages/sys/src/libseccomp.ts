import { BerthError } from '@berth/oci';
import { cfunc, openFirst, structType } from './libc.js';

/*
 * libseccomp (libseccomp.so.2, Debian package libseccomp2, a dependency of
 * runc), opened on first use. The runtime uses it only to compile a profile into
 * a classic BPF program (its security/libseccomp.ts); these are the raw calls.
 */

type Fn = (...args: unknown[]) => unknown;

/** libseccomp's calls as koffi declares them: results are libseccomp's (negative errno on failure), not checked here. */
export interface Libseccomp {
  init: Fn;
  release: Fn;
  resolveName: Fn;
  resolveNameArch: Fn;
  archResolve: Fn;
  archAdd: Fn;
  archNative: Fn;
  /** seccomp_rule_add_array: the comparisons are objects { arg, op, datum_a, datum_b } (struct scmp_arg_cmp). */
  ruleAddArray: Fn;
  attrSet: Fn;
  exportBpf: Fn;
  /** libc's memfd_create, for seccomp_export_bpf's output (a negative result: it failed). */
  memfdCreate: Fn;
}

let lib: Libseccomp | undefined;

/** libseccomp, loaded and declared once; BerthError 'EUNSUPPORTED' when it is not installed. */
export function libseccomp(): Libseccomp {
  if (lib) return lib;
  let so;
  try {
    so = openFirst(['libseccomp.so.2'], 'libseccomp');
  } catch (err) {
    throw new BerthError('EUNSUPPORTED', 'seccomp: cannot load libseccomp.so.2 (install the libseccomp2 package)', { cause: err });
  }
  structType('berth_scmp_arg_cmp', { arg: 'uint32_t', op: 'int', datum_a: 'uint64_t', datum_b: 'uint64_t' });
  lib = {
    init: so.func('void *seccomp_init(uint32_t def_action)'),
    release: so.func('void seccomp_release(void *ctx)'),
    resolveName: so.func('int seccomp_syscall_resolve_name(const char *name)'),
    resolveNameArch: so.func('int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name)'),
    archResolve: so.func('uint32_t seccomp_arch_resolve_name(const char *name)'),
    archAdd: so.func('int seccomp_arch_add(void *ctx, uint32_t arch)'),
    archNative: so.func('uint32_t seccomp_arch_native()'),
    ruleAddArray: so.func('int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, const berth_scmp_arg_cmp *arg_array)'),
    attrSet: so.func('int seccomp_attr_set(void *ctx, int attr, uint32_t value)'),
    exportBpf: so.func('int seccomp_export_bpf(void *ctx, int fd)'),
    memfdCreate: cfunc('int memfd_create(const char *name, unsigned int flags)'),
  };
  return lib;
}
