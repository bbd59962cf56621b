#!/usr/bin/env node
// Regenerates schema/recipe.schema.json from the zod schema (run after `npm run build -w @berth/builder`).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { recipeJsonSchema } from '../dist/recipe/schema.js';

const out = fileURLToPath(new URL('../schema/recipe.schema.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(recipeJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
