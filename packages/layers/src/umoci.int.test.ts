// Differential tests: what applyLayer makes must match what `umoci unpack`
// makes from the same layers: every node's type, mode, owner, size, content,
// link target, device number, xattrs, hardlink grouping and mtime.
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseIndex, parseManifest } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import {
  buildLayer,
  LAYER_MEDIA_TYPE,
  layerFixtures,
  snapshotTree,
  umociUnpack,
  writeOciLayout,
  type LayerFixtureName,
  type LayoutLayer,
} from '../../../fixtures/layers/index.js';
import { applyLayer, isIgnoredXattr } from './apply.js';
import { createLayer } from './create.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const imagesDir = path.resolve(repoRoot, '../shared/images');
const isRoot = process.getuid?.() === 0;
// Only asked as root: without root these tests skip anyway.
const umociSkip = isRoot ? toolsMissing(['umoci']) : undefined;
const canRun = isRoot && umociSkip === undefined;
const haveImages = existsSync(path.join(imagesDir, 'alpine', 'index.json')) && existsSync(path.join(imagesDir, 'busybox', 'index.json'));
// Why tests are skipped is said here, not by a test that passes without checking anything.
if (!canRun) console.warn(`umoci differential tests skipped: ${umociSkip ?? 'they need root'}`);
else if (!haveImages) console.warn(`real-image tests skipped: ${imagesDir} not found (CI clones the repo beside shared/)`);

let dir: string;
let outside: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-umoci-'));
  outside = path.join(dir, 'outside');
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'canary.txt'), 'canary');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Both trees with directory mtimes, except directories neither layer
 * described (made implicitly as parents): those carry "now" in both tools.
 */
function compareTrees(ours: string, theirs: string, opts: { dirMtimes?: boolean } = {}): void {
  const a = snapshotTree(ours, { dirMtimes: opts.dirMtimes ?? true });
  const b = snapshotTree(theirs, { dirMtimes: opts.dirMtimes ?? true });
  for (const [rel, node] of Object.entries(b)) {
    // The one deliberate difference: umoci's plain-directory mode writes
    // trusted.* as given, applyLayer never does (IGNORED_XATTR_PREFIXES).
    for (const name of Object.keys(node.xattrs)) if (isIgnoredXattr(name)) delete node.xattrs[name];
    const mine = a[rel];
    if (node.type === 'dir' && mine?.type === 'dir' && BigInt(node.mtimeNs || 0) >= testStart && BigInt(mine.mtimeNs || 0) >= testStart) {
      node.mtimeNs = mine.mtimeNs = 'implicit';
    }
  }
  expect(a).toEqual(b);
}

let testStart = 0n;
beforeEach(() => {
  testStart = BigInt(Date.now() - 1000) * 1_000_000n;
});

/** Apply with berth into <dir>/berth and with umoci into <dir>/bundle/rootfs; return both roots. */
async function both(layers: LayoutLayer[]): Promise<{ ours: string; theirs: string }> {
  const layout = path.join(dir, 'layout');
  writeOciLayout(layout, layers, 'test');
  const theirs = umociUnpack(layout, 'test', path.join(dir, 'bundle'));
  const ours = path.join(dir, 'berth');
  mkdirSync(ours);
  for (const l of layers) {
    await applyLayer({ root: ours, source: Readable.from([l.blob]), mediaType: l.mediaType });
  }
  return { ours, theirs };
}

// Directory mtimes are compared too, except where umoci 0.4.7 is known to leave
// "now": it restores only the parent of each entry, so a directory emptied by a
// whiteout walk below it keeps the time of the removal. applyLayer restores
// lower directories and applies the layer's own, which those tests check.
const UMOCI_DIR_MTIME_QUIRK = new Set<LayerFixtureName>(['whiteoutDirWithUpperChild', 'opaqueAfter']);

const DIFFERENTIAL: LayerFixtureName[] = [
  'dotdotEscape',
  'absolutePaths',
  'symlinkAbsWriteThrough',
  'symlinkRelWriteThrough',
  'symlinkDotDotChain',
  'symlinkSameLayer',
  'symlinkFinalComponent',
  'symlinkThenDirEntry',
  'symlinkThenMetadataFile',
  'hardlinkEtcPasswdInRoot',
  'hardlinkDotDotInRoot',
  'hardlinkToOutsideSymlink',
  'rootDirEntry',
  'symlinkShortChain',
  'whiteoutFile',
  'whiteoutDir',
  'whiteoutAfterSameLayerEntry',
  'whiteoutBeforeSameLayerEntry',
  'whiteoutDirWithUpperChild',
  'opaqueBefore',
  'opaqueAfter',
  'opaqueOnly',
  'opaqueNotCaughtByPrefix',
  'whiteoutThroughSymlink',
  'whiteoutMissing',
  'dirReplacedByFile',
  'fileReplacedByDir',
  'dirReplacedBySymlink',
  'dirOverDir',
  'allTypes',
  'crossLayerHardlink',
  'xattrs',
  'trustedXattrs',
  'longNames',
  'unicodeNames',
  'paxMtime',
];

describe.skipIf(!canRun)('applyLayer vs umoci unpack', () => {
  it.each(DIFFERENTIAL)('%s', async (name) => {
    const specs = layerFixtures[name].layers({ outside });
    const layers: LayoutLayer[] = [];
    for (const s of specs) layers.push({ blob: await buildLayer(s, { compression: 'gzip' }), mediaType: LAYER_MEDIA_TYPE.gzip });
    const { ours, theirs } = await both(layers);
    compareTrees(ours, theirs, { dirMtimes: !UMOCI_DIR_MTIME_QUIRK.has(name) });
    expect(readFileSync(path.join(outside, 'canary.txt'), 'utf8')).toBe('canary');
  });

  it('agrees on a layer made by createLayer', async () => {
    const base = path.join(dir, 'base');
    mkdirSync(base);
    for (const s of layerFixtures.allTypes.layers({ outside })) {
      await applyLayer({ root: base, source: Readable.from([await buildLayer(s)]), mediaType: LAYER_MEDIA_TYPE.none });
    }
    const out = path.join(dir, 'created.tar.gz');
    const res = await createLayer({ target: base, output: out, sourceDateEpoch: 1_700_000_000 });
    const { ours, theirs } = await both([{ blob: readFileSync(out), mediaType: res.mediaType }]);
    compareTrees(ours, theirs);
    expect(snapshotTree(theirs)).toEqual(snapshotTree(base, { secondsOnly: true }));
  });
});

/** The linux/amd64 manifest's layers of an image in a shared OCI layout, as LayoutLayers read from disk. */
function imageLayers(image: string): LayoutLayer[] {
  const layout = path.join(imagesDir, image);
  const blob = (digest: string): Buffer => readFileSync(path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)));
  const top = parseIndex(readFileSync(path.join(layout, 'index.json')), `${image} index.json`);
  const first = top.manifests[0];
  if (!first) throw new Error(`${image}: empty index`);
  const index = parseIndex(blob(first.digest), `${image} index`);
  const entry = index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
  if (!entry) throw new Error(`${image}: no linux/amd64 manifest`);
  const manifest = parseManifest(blob(entry.digest), `${image} manifest`);
  return manifest.layers.map((l) => ({ blob: blob(l.digest), mediaType: l.mediaType }));
}

describe.skipIf(!canRun || !haveImages)('real images vs umoci unpack', () => {
  it.each(['alpine', 'busybox'])('%s (linux/amd64) unpacks identically', async (image) => {
    const layers = imageLayers(image);
    const { ours, theirs } = await both(layers);
    expect(Object.keys(snapshotTree(ours)).length).toBeGreaterThan(100);
    compareTrees(ours, theirs);
  });

  it('applies the alpine blob straight from the shared layout with both digests verified', async () => {
    const layout = path.join(imagesDir, 'alpine');
    const top = parseIndex(readFileSync(path.join(layout, 'index.json')), 'alpine index.json');
    const index = parseIndex(readFileSync(path.join(layout, 'blobs', 'sha256', (top.manifests[0]?.digest ?? '').slice(7))), 'alpine index');
    const m = index.manifests.find((e) => e.platform?.architecture === 'amd64');
    const manifest = parseManifest(readFileSync(path.join(layout, 'blobs', 'sha256', (m?.digest ?? '').slice(7))), 'alpine manifest');
    const config = JSON.parse(readFileSync(path.join(layout, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    const layer = manifest.layers[0];
    if (!layer) throw new Error('alpine: no layer');
    const root = path.join(dir, 'alpine');
    mkdirSync(root);
    const src = path.join(dir, 'blob');
    copyFileSync(path.join(layout, 'blobs', 'sha256', layer.digest.slice(7)), src);
    const res = await applyLayer({ root, source: createReadStream(src), mediaType: layer.mediaType, digest: layer.digest, diffId: config.rootfs.diff_ids[0] });
    expect(res.diffId.toString()).toBe(config.rootfs.diff_ids[0]);
    expect(readFileSync(path.join(root, 'etc', 'alpine-release'), 'utf8')).toMatch(/^3\.20/);
  });
});