import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { recipeJsonSchema } from './schema.js';

const file = fileURLToPath(new URL('../../schema/recipe.schema.json', import.meta.url));

describe('recipe JSON Schema', () => {
  it('is up to date with the zod schema (regenerate: npm run schema -w @berth/builder)', () => {
    const expected = `${JSON.stringify(recipeJsonSchema(), null, 2)}\n`;
    if (process.env['BERTH_UPDATE_SCHEMA'] === '1') writeFileSync(file, expected);
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });

  it('describes steps as a closed set of one-key objects', () => {
    const schema = recipeJsonSchema() as { properties: Record<string, { items?: { anyOf?: Array<{ required?: string[]; additionalProperties?: boolean }> } }>; additionalProperties: boolean };
    expect(schema.additionalProperties).toBe(false);
    const steps = schema.properties['steps']?.items?.anyOf ?? [];
    expect(steps.map((s) => s.required?.[0])).toEqual(['run', 'copy', 'env', 'workdir', 'user', 'label', 'expose', 'volume']);
    expect(steps.every((s) => s.additionalProperties === false)).toBe(true);
  });
});
