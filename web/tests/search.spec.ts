// Message search in the browser (issue 22): the search box finds a message by a
// part of a word, marks the match, and opens the conversation at that message with
// the history around it loaded, by keyboard.
import { test, expect } from '@playwright/test';
import { Server } from './server';
import { log, person, shot, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('search', { WS_MAX_MSGS_PER_SEC: '1000', WS_BURST: '1000' }); });
test.afterAll(async () => { await server?.stop(); });

test('a search result opens its conversation at the message, history around it', async ({ browser }) => {
  const alice = await server.user('alice');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Expedition' });
  for (let i = 1; i <= 120; i++) {
    const body = i === 10 ? 'the hidden treasure map is under the oak' : `chatter ${i}`;
    await server.api(alice.token, 'POST', `/conversations/${g.id}/messages`, { body, client_id: `s${i}` });
  }
  const a = await person(browser);
  await signIn(a.page, server, alice);
  await a.page.getByRole('button', { name: 'Search messages' }).click();
  const box = a.page.getByRole('searchbox', { name: 'Find messages' });
  const results = a.page.getByRole('list', { name: 'Search results' });
  // The index follows within about a second: the result appears once it has.
  await expect(async () => {
    await box.fill('');
    await box.fill('easure');
    await expect(results.getByRole('button')).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  const hit = results.getByRole('button', { name: /Open in Expedition: the hidden treasure map/ });
  await expect(hit.locator('mark')).toHaveText('easure');
  await shot(a.page, '20-search');

  await hit.focus();
  await a.page.keyboard.press('Enter');
  await expect(a.page.getByRole('heading', { name: '# Expedition' })).toBeVisible();
  const found = log(a.page).locator('li.msg[data-seq="10"]');
  await expect(found).toHaveClass(/focused/);
  await expect(found).toBeInViewport();
  await expect(found).toContainText('the hidden treasure map');
  // The history around it: older messages are one click away.
  await expect(log(a.page).locator('li.msg').first()).toHaveAttribute('data-seq', '1');
  await shot(a.page, '21-search-opened');

  // Nothing found: said so.
  await a.page.getByRole('button', { name: 'Search messages' }).click();
  await a.page.getByRole('searchbox', { name: 'Find messages' }).fill('nowhere to be found');
  await expect(a.page.getByText('No messages found.')).toBeVisible();
  // A malformed query: the server's message, not a crash.
  await a.page.getByRole('searchbox', { name: 'Find messages' }).fill('"open quote');
  await expect(a.page.getByRole('alert').filter({ hasText: /quote/ })).toBeVisible();
  await a.context.close();
});
