#!/usr/bin/env node
// A pull in its own process, for the multi-process integration tests (concurrent pulls,
// kill -9 mid-blob). Runs against the BUILT packages (`npm run build` first): the
// imports resolve through node_modules/@berth/* to packages/*/dist.
//
//   node test/helpers/pull.mjs --store DIR --ref REF [--platform os/arch[/variant]]
//        [--config BERTH_CONFIG_FILE] [--docker-config DIR] [--retries N]
//
// Prints one JSON line: {"ok":true,"digest":…,"layersDownloaded":…,"layersExisting":…}
// or {"ok":false,"code":…,"message":…} (exit status 1). With --events, progress events
// are printed first, one JSON line each ({"event":{…}}).
import { parseArgs } from 'node:util';
import { parsePlatform, Reference } from '@berth/oci';
import { DockerConfigCredentials, loadRegistryConfig, pullImage, RegistryClient } from '@berth/registry';
import { Store } from '@berth/store';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    ref: { type: 'string' },
    platform: { type: 'string' },
    config: { type: 'string' },
    'docker-config': { type: 'string' },
    retries: { type: 'string' },
    events: { type: 'boolean', default: false },
  },
});

function out(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function main() {
  if (!values.store || !values.ref) throw new Error('usage: pull.mjs --store DIR --ref REF');
  const config = await loadRegistryConfig(values.config ? { path: values.config } : {});
  const credentials = new DockerConfigCredentials(values['docker-config'] ? { configDir: values['docker-config'] } : {});
  const client = new RegistryClient({
    config,
    credentials,
    retry: { retries: values.retries ? Number(values.retries) : 3, minDelayMs: 5, maxDelayMs: 50 },
  });
  const store = await Store.open({ root: values.store });
  try {
    const result = await pullImage({
      client,
      store,
      reference: Reference.parse(values.ref),
      ...(values.platform ? { platform: parsePlatform(values.platform) } : {}),
      ...(values.events ? { onProgress: (event) => out({ event }) } : {}),
    });
    out({
      ok: true,
      reference: result.reference.toString(),
      digest: result.descriptor.digest,
      indexDigest: result.indexDigest?.toString(),
      layersDownloaded: result.layersDownloaded,
      layersExisting: result.layersExisting,
    });
  } finally {
    await client.close();
  }
}

main().catch((err) => {
  out({ ok: false, code: err?.code ?? 'UNKNOWN', message: String(err?.message ?? err) });
  process.exitCode = 1;
});
