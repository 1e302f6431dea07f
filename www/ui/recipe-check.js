// Checks a recipe against the published schema (public/recipe.schema.json)
// before anything is sent to the engine, and says what is wrong in a line.
// The Rust parser is the authority (tests/cli/recipe-schema.test.mjs keeps
// the two in agreement); this only answers sooner.
import { Validator } from '@cfworker/json-schema';
import schema from '../public/recipe.schema.json';

/** The form a recipe is written in: its branch of the schema. */
function branchOf(recipe) {
  if (recipe && typeof recipe === 'object' && !Array.isArray(recipe)) {
    if ('steps' in recipe) return 'stepList';
    if (['version', 'quantize', 'prune', 'distill', 'target'].some((k) => k in recipe)) return 'sectioned';
  }
  return 'legacy';
}

const validators = new Map();
function validator(branch) {
  if (!validators.has(branch)) validators.set(branch, new Validator({ ...schema, oneOf: undefined, $ref: `#/$defs/${branch}` }, '2020-12', false));
  return validators.get(branch);
}

const WRAPPERS = new Set(['$ref', 'properties', 'items', 'anyOf', 'oneOf', 'allOf', 'not', 'additionalProperties']);

/** Readable problems of `recipe` (an empty list when it is valid). */
export function recipeProblems(recipe) {
  const result = validator(branchOf(recipe)).validate(recipe);
  if (result.valid) return [];
  const where = (loc) => (loc === '#' ? 'the recipe' : `'${loc.slice(2).replaceAll('/', '.')}'`);
  const lines = [];
  for (const e of result.errors) {
    let line;
    if (e.keyword === 'false') line = `${where(e.instanceLocation)} is not a key a recipe takes here`;
    else if (e.keyword === 'enum') line = `${where(e.instanceLocation)} must be one of ${e.error.replace(/^.*any of /, '').replace(/\.$/, '')}`;
    else if (e.keyword === 'required') line = `${where(e.instanceLocation)} needs ${e.error.replace(/^.*property /, '').replace(/\.$/, '')}`;
    else if (!WRAPPERS.has(e.keyword)) line = `${where(e.instanceLocation)}: ${e.error}`;
    if (line && !lines.includes(line)) lines.push(line);
  }
  return lines.length ? lines.slice(0, 3) : ['the recipe does not match the recipe schema'];
}
