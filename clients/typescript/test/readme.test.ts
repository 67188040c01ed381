// The README's TypeScript example ("Use it from Python / TypeScript"), run verbatim:
// it is compiled as a module inside this package, with '@confab/client' resolved to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '../..'); // dist/test -> clients/typescript
const readme = readFileSync(resolve(pkg, '../../README.md'), 'utf8');

test('README TypeScript example runs', () => {
  const m = /<!-- sdk-example:typescript -->\n```typescript\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(m, 'README.md has no <!-- sdk-example:typescript --> block');
  const dir = mkdtempSync(join(pkg, 'dist', 'readme-'));
  try {
    writeFileSync(join(dir, 'example.ts'), m[1]);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      extends: join(pkg, 'tsconfig.json'),
      compilerOptions: { rootDir: '.', outDir: 'out', paths: { '@confab/client': [join(pkg, 'dist/src/index.d.ts')] }, declaration: false },
      include: ['example.ts'],
    }));
    execFileSync(join(pkg, 'node_modules/.bin/tsc'), ['-p', dir], { stdio: 'inherit' });
    // The compiled import still says '@confab/client': point it at the built package.
    const out = join(dir, 'out', 'example.js');
    const js = readFileSync(out, 'utf8').replace("'@confab/client'", JSON.stringify(join(pkg, 'dist/src/index.js')));
    writeFileSync(out, js);
    const stdout = execFileSync('node', [out], { env: process.env, encoding: 'utf8', timeout: 60_000 });
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^I am ts_/);
    assert.equal(lines[1], 'got pong');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
