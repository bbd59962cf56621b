import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { debianPackages, systemPackagesFile, toolsMissing } from './tools.js';

describe('toolsMissing', () => {
  let dir: string;
  let bin: string;
  let list: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-tools-'));
    bin = path.join(dir, 'bin');
    list = path.join(dir, 'packages.txt');
    writeFileSync(list, '# comment\napache2-utils   htpasswd   # Basic auth\ntini tini tini-static\nlibc6-dev\n');
    writeFileSync(path.join(dir, 'present'), '');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'tini'), '#!/bin/sh\n');
    chmodSync(path.join(bin, 'tini'), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const skipMode = () => ({ env: { PATH: bin }, packagesFile: list });
  const requireMode = () => ({ env: { PATH: bin, BERTH_TEST_REQUIRE_TOOLS: '1' }, packagesFile: list });

  it('is undefined when every tool is on PATH, in both modes', () => {
    expect(toolsMissing(['tini'], skipMode())).toBeUndefined();
    expect(toolsMissing(['tini'], requireMode())).toBeUndefined();
  });

  it('skips with the Debian package that provides the tool (htpasswd is apache2-utils)', () => {
    expect(toolsMissing(['htpasswd', 'tini'], skipMode())).toBe('missing htpasswd (Debian package apache2-utils): run scripts/setup-system.sh as root');
  });

  it('after the set-up (BERTH_TEST_REQUIRE_TOOLS=1) a missing installable tool throws instead of skipping', () => {
    const err = (() => {
      try {
        toolsMissing(['htpasswd', 'tini-static'], requireMode());
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).message).toBe(
      'check test tools: htpasswd (Debian package apache2-utils), tini-static (Debian package tini) are missing although the set-up (scripts/setup-system.sh) should have installed them',
    );
  });

  it('a tool the set-up cannot install still skips, saying so, even after the set-up', () => {
    expect(toolsMissing(['nosuch-tool'], requireMode())).toBe('missing nosuch-tool (not a package the set-up installs)');
  });

  it('checks absolute paths as files, and knows their package by the file name', () => {
    expect(toolsMissing([path.join(dir, 'present')], requireMode())).toBeUndefined();
    expect(toolsMissing([path.join(dir, 'tini-static')], skipMode())).toBe(`missing ${path.join(dir, 'tini-static')} (Debian package tini): run scripts/setup-system.sh as root`);
  });
});

describe('the repository package list', () => {
  it('names a package for every tool the tests check', () => {
    const packages = debianPackages(systemPackagesFile());
    expect(packages.get('htpasswd')).toBe('apache2-utils');
    for (const tool of ['docker-registry', 'skopeo', 'umoci', 'openssl', 'tmux', 'tini', 'tini-static', 'mkfs.btrfs', 'mkfs.xfs', 'chattr', 'gcc', 'curl']) {
      expect(packages.has(tool), tool).toBe(true);
    }
  });
});
