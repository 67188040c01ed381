// Swagger UI at /docs under its own Content-Security-Policy (issue 20): it still
// renders and works, and the browser reports no blocked script, style or request.
import { test, expect } from '@playwright/test';
import { Server } from './server';
import { person } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('docs'); });
test.afterAll(async () => { await server?.stop(); });

test('Swagger UI renders under its CSP with nothing blocked', async ({ browser }) => {
  const a = await person(browser);
  const blocked: string[] = [];
  a.page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) blocked.push(m.text()); });
  const resp = await a.page.goto(`${server.url}/docs`);
  expect(resp?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  // The operations of the spec are listed, by summary.
  await expect(a.page.getByText('Read message history by seq').first()).toBeVisible();
  await expect(a.page.getByRole('button', { name: 'Authorize' })).toBeVisible();
  expect(blocked).toEqual([]);
  await a.context.close();
});
