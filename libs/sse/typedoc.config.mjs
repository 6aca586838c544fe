// @ts-check
import { readFileSync } from 'node:fs';

/*
 * The API reference (docs/api) is generated from the TSDoc of what the package exports: its
 * entry points are read from the `exports` map of package.json, so that a new entry is
 * documented as soon as it is published. `./dist/<name>.d.ts` is documented from
 * `./src/<name>.ts`.
 */
const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/** @param {unknown} target */
function typesOf(target) {
  if (typeof target === 'string') return target.endsWith('.d.ts') ? target : undefined;
  if (target === null || typeof target !== 'object') return undefined;
  const conditions = /** @type {Record<string, unknown>} */ (target);
  return typesOf(conditions.types) ?? typesOf(conditions.import) ?? typesOf(conditions.default);
}

/** Each documented entry: its source file, and the name a user imports it by. */
const entries = Object.entries(manifest.exports).flatMap(([subpath, target]) => {
  const types = typesOf(target);
  if (types === undefined) return [];
  const source = types.replace(/^\.\/dist\//, './src/').replace(/\.d\.ts$/, '.ts');
  return [{ source, specifier: subpath.replace(/^\./, manifest.name) }];
});

/**
 * Module names in the reference are the specifiers users import (`nestjs-sse-hub/redis`),
 * not file names; `typedoc-module-names.mjs` applies them.
 * @type {Record<string, string>}
 */
export const moduleNames = Object.fromEntries(
  entries.map(({ source, specifier }) => [
    // TypeDoc names a folder's `index.ts` after the folder.
    source.replace(/^\.\/src\//, '').replace(/(\/index)?\.ts$/, ''),
    specifier,
  ]),
);

/** @type {Partial<import('typedoc').TypeDocOptions & import('typedoc-plugin-markdown').PluginOptions>} */
const config = {
  entryPoints: entries.map(({ source }) => source),
  // The browser client needs the DOM lib, which the library's own build leaves out.
  tsconfig: './tsconfig.typedoc.json',
  plugin: ['typedoc-plugin-markdown', './typedoc-module-names.mjs'],
  out: '../../docs/api',
  name: manifest.name,
  readme: 'none',
  entryFileName: 'README.md',
  outputFileStrategy: 'modules',
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  // Links to source lines would change with every edit; the reference links to the types.
  disableSources: true,
  hidePageHeader: true,
  hideBreadcrumbs: true,
  useCodeBlocks: true,
  parametersFormat: 'table',
  interfacePropertiesFormat: 'table',
  classPropertiesFormat: 'table',
  enumMembersFormat: 'table',
  typeDeclarationFormat: 'table',
  sort: ['kind', 'instance-first', 'alphabetical-ignoring-documents'],
  // Internal types show up only in constructors that Nest calls, never a user.
  validation: { notExported: false, invalidLink: true, notDocumented: true },
  // TSDoc on every export (the house rule); members of inline types are documented by their
  // owner's comment.
  requiredToBeDocumented: ['Class', 'Interface', 'Function', 'Variable', 'TypeAlias', 'Enum'],
  treatWarningsAsErrors: true,
};

export default config;
