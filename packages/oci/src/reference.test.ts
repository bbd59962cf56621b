import { describe, expect, it } from 'vitest';
import { Reference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('Reference.parse', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest', 'alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20', 'alpine:3.20'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1', 'busybox:1'],
    ['docker.io/library/alpine', 'docker.io/library/alpine:latest', 'alpine:latest'],
    ['host:5000/ns/app:tag', 'host:5000/ns/app:tag', 'host:5000/ns/app:tag'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['127.0.0.1:5000/library/alpine:latest', '127.0.0.1:5000/library/alpine:latest', '127.0.0.1:5000/library/alpine:latest'],
    [`app@${D}`, `docker.io/library/app@${D}`, `app@${D}`],
    [`app:tag@${D}`, `docker.io/library/app:tag@${D}`, `app:tag@${D}`],
    ['[::1]:5000/app:v1', '[::1]:5000/app:v1', '[::1]:5000/app:v1'],
    ['a/b__c/d-e.f', 'docker.io/a/b__c/d-e.f:latest', 'a/b__c/d-e.f:latest'],
    // Only the bare 64-hex string is an ID (docker's anchoredIdentifierRegexp); with a tag, a
    // registry or one more character it is a name, as in docker.
    [`${'1a3f'.repeat(16)}:v1`, `docker.io/library/${'1a3f'.repeat(16)}:v1`, `${'1a3f'.repeat(16)}:v1`],
    [`localhost/${'1a3f'.repeat(16)}`, `localhost/${'1a3f'.repeat(16)}:latest`, `localhost/${'1a3f'.repeat(16)}:latest`],
    [`${'1a3f'.repeat(16)}0`, `docker.io/library/${'1a3f'.repeat(16)}0:latest`, `${'1a3f'.repeat(16)}0:latest`],
  ])('%s → %s', (input, full, familiar) => {
    const r = Reference.parse(input);
    expect(r.toString()).toBe(full);
    expect(r.familiar()).toBe(familiar);
    expect(Reference.parse(r.toString()).toString()).toBe(full);
  });

  it('exposes parts', () => {
    const r = Reference.parse(`host:5000/ns/app:tag@${D}`);
    expect(r.registry).toBe('host:5000');
    expect(r.repository).toBe('ns/app');
    expect(r.tag).toBe('tag');
    expect(r.digest?.toString()).toBe(D);
    expect(r.identifier).toBe(D);
  });

  it.each([
    ['', /^invalid reference "": the reference is empty$/],
    ['Alpine', /lowercase/],
    ['docker.io/Library/alpine', /lowercase/],
    ['alpine:-bad', /bad tag/],
    [`alpine:${'x'.repeat(129)}`, /bad tag/],
    ['alpine@sha256:abc', /bad digest/],
    ['alpine@md5:abc', /bad digest/],
    ['a//b', /bad repository/],
    ['app-', /bad repository/],
    ['has space', /whitespace/],
    [`${'a'.repeat(250)}/${'b'.repeat(10)}`, /longer than 255/],
    ['1a3f'.repeat(16), /cannot specify 64-byte hexadecimal strings/],
  ])('rejects %j with a reason', (input, why) => {
    expect(() => Reference.parse(input)).toThrow(why);
    expect(() => Reference.parse(input)).toThrow(/invalid reference/);
  });
});
