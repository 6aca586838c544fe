// @ts-check
/*
 * `tsc -b` builds only what changed but never removes the outputs of a source that was
 * deleted or moved: left in dist/, they would be published (and their maps would point at
 * sources that are not shipped). This removes every output of dist/ whose source is gone.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
/** Outputs that are not one source's: the browser bundle of src/client/. */
const bundles = new Set(['client.js', 'client.js.map']);
const OUTPUT = /(\.d\.ts\.map|\.js\.map|\.d\.ts|\.js)$/;

/** @param {string} dir */
function prune(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    const rel = relative(dist, path);
    if (bundles.has(rel) || !OUTPUT.test(name)) continue;
    const source = join(root, 'src', rel.replace(OUTPUT, '.ts'));
    if (!existsSync(source)) rmSync(path);
  }
}

if (existsSync(dist)) prune(dist);
