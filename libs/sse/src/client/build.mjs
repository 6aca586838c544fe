// Bundles the browser client into one minified ES module, dist/client.js, and says its size.
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = new URL('../../dist/client.js', import.meta.url).pathname;
await build({
  entryPoints: [new URL('./index.ts', import.meta.url).pathname],
  outfile,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  legalComments: 'none',
});
const code = readFileSync(outfile);
console.log(`dist/client.js: ${code.length} bytes minified, ${gzipSync(code).length} gzipped`);
