import path from 'node:path';

/** What berth writes to `oci-layout`. */
export const IMAGE_LAYOUT_VERSION = '1.0.0';

/**
 * The directories of a store. The OCI image layout's own (`blobs/`, `index.json`,
 * `oci-layout`) and berth's working directories beside them: `tmp/` (temp files of
 * atomic writes), `ingest/` (partial downloads) and `locks/` (flock files). Only
 * the store's parts use these paths; none is handed to other packages.
 */
export interface StoreLayout {
  readonly root: string;
  readonly blobsDir: string;
  readonly indexJson: string;
  readonly layoutFile: string;
  readonly tmpDir: string;
  readonly ingestDir: string;
  readonly locksDir: string;
}

/** The directories of the layout at `root` (an absolute path). */
export function storeLayout(root: string): StoreLayout {
  return {
    root,
    blobsDir: path.join(root, 'blobs'),
    indexJson: path.join(root, 'index.json'),
    layoutFile: path.join(root, 'oci-layout'),
    tmpDir: path.join(root, 'tmp'),
    ingestDir: path.join(root, 'ingest'),
    locksDir: path.join(root, 'locks'),
  };
}

/** Names a fresh layout may already contain (from an interrupted creation). */
export const OWN_ENTRIES: ReadonlySet<string> = new Set(['blobs', 'index.json', 'tmp', 'ingest', 'locks']);
