// Bundles the client into dist/: index.html plus content-hashed assets (served with a
// year of immutable caching by src/web.rs) and a .gz twin of each. Prints the sizes.
//   node build.mjs            production build
//   node build.mjs --check    also fail when the gzipped total exceeds 150 KB
import * as esbuild from 'esbuild';
import { gzipSync } from 'node:zlib';
import { mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const dist = new URL('./dist/', import.meta.url).pathname;
for (const f of readdirSync(dist, { withFileTypes: true })) {
  if (f.name !== '.gitkeep') rmSync(join(dist, f.name), { recursive: true, force: true });
}
mkdirSync(join(dist, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: 'src/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: 'tsconfig.json',
  external: ['ws'],
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>confab</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>confab needs JavaScript.</noscript>
</body>
</html>
`;
writeFileSync(join(dist, 'index.html'), html);

let total = 0;
const rows = [];
for (const name of ['index.html', ...outputs.map((f) => `assets/${f}`)]) {
  const raw = readFileSync(join(dist, name));
  const gz = gzipSync(raw, { level: 9 });
  if (name.startsWith('assets/')) writeFileSync(join(dist, `${name}.gz`), gz);
  total += gz.length;
  rows.push(`${name}: ${raw.length} B, ${gz.length} B gzipped`);
}
console.log(rows.join('\n'));
console.log(`web bundle: ${(total / 1024).toFixed(1)} KB gzipped in total (budget 150 KB)`);
writeFileSync(join(dist, '..', 'dist-size.json'), JSON.stringify({ gzip_bytes: total, files: rows }) + '\n');
if (process.argv.includes('--check') && total > 150 * 1024) {
  console.error('web bundle is over the 150 KB gzip budget');
  process.exit(1);
}
