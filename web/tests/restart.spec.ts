// A server restart (and a network drop) in the middle of a conversation: the page
// reconnects with a fresh ticket, rejoins with `since`, and shows every message
// exactly once, in seq order; a send that failed meanwhile is retried with the same
// client_id and stored once.
import { test, expect, type Page } from '@playwright/test';
import { Server } from './server';
import { composer, conv, log, person, say, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('restart'); });
test.afterAll(async () => { await server?.stop(); });

const seqsOf = (page: Page) => log(page).locator('li.msg[data-seq]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
const connState = (page: Page) => page.locator('[data-conn]');

test('a server restart mid-conversation: the page catches up without loss or duplicates', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Resilient' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const a = await person(browser);
  const b = await person(browser);
  await signIn(a.page, server, alice);
  await signIn(b.page, server, bob);
  await conv(a.page, 'Resilient').click();
  await conv(b.page, 'Resilient').click();
  for (let i = 1; i <= 3; i++) {
    await say(a.page, `before ${i} from alice`);
    await say(b.page, `before ${i} from bob`);
  }
  await expect(log(a.page).locator('li.msg[data-seq]')).toHaveCount(6);

  // the server goes down under both of them; then alice's network goes away too
  await server.stop();
  await expect(connState(a.page)).toHaveAttribute('data-conn', /offline|connecting/);
  await expect(connState(b.page)).toHaveAttribute('data-conn', /offline|connecting/);
  await expect(connState(a.page)).toHaveText('Offline, reconnecting…');
  await a.context.setOffline(true);
  // a send while the server is down fails visibly
  await say(a.page, 'sent while down');
  const failed = log(a.page).locator('li.out.failed').filter({ hasText: 'sent while down' });
  await expect(failed).toBeVisible();
  await expect(failed.getByRole('alert')).toContainText('Failed:');
  const clientId = await failed.getAttribute('data-client-id');
  await server.restart();

  // bob reconnects and talks while alice is still cut off
  await expect(connState(b.page)).toHaveAttribute('data-conn', 'online', { timeout: 15_000 });
  for (let i = 1; i <= 4; i++) await say(b.page, `missed ${i} from bob`);
  await expect(log(b.page).locator('li.msg[data-seq]')).toHaveCount(10);
  await expect(log(b.page).locator('li.out')).toHaveCount(0);
  await expect(connState(a.page)).not.toHaveAttribute('data-conn', 'online');

  // alice comes back: the missed messages appear once each, in order
  await a.context.setOffline(false);
  await expect(connState(a.page)).toHaveAttribute('data-conn', 'online', { timeout: 15_000 });
  for (let i = 1; i <= 4; i++) await expect(log(a.page).getByText(`missed ${i} from bob`)).toHaveCount(1);
  expect(await seqsOf(a.page)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

  // retry: the same client_id, stored once, seen once by bob
  await failed.getByRole('button', { name: 'Retry' }).click();
  await expect(log(a.page).locator('li.out')).toHaveCount(0);
  await expect(log(b.page).getByText('sent while down')).toHaveCount(1);
  const history = await server.api<{ items: { seq: number; body: string; client_id?: string }[] }>(alice.token, 'GET', `/conversations/${g.id}/messages?limit=100`);
  expect(history.items.filter((m) => m.body === 'sent while down').map((m) => m.client_id)).toEqual([clientId]);
  expect(await seqsOf(a.page)).toEqual(history.items.map((m) => m.seq));
  expect(await seqsOf(b.page)).toEqual(history.items.map((m) => m.seq));

  // live again both ways after the restart
  await say(b.page, 'welcome back');
  await expect(log(a.page).getByText('welcome back')).toBeVisible();
  await composer(a.page).fill('thanks');
  await composer(a.page).press('Enter');
  await expect(log(b.page).getByText('thanks', { exact: true })).toBeVisible();
  await a.context.close();
  await b.context.close();
});

test('a page reloaded after a restart resumes its session (refresh token) and history', async ({ browser }) => {
  const alice = await server.user('alice');
  const a = await person(browser);
  await signIn(a.page, server, alice);
  const dm = await server.user('dan');
  await server.api(dm.token, 'POST', '/dms', { user_id: alice.id }).then((c) => server.api(dm.token, 'POST', `/conversations/${(c as { id: string }).id}/messages`, { body: 'hello from dan' }));
  await expect(conv(a.page, dm.username).getByLabel('1 unread')).toBeVisible();
  await server.restart();
  await a.page.reload();
  await expect(connState(a.page)).toHaveAttribute('data-conn', 'online');
  await conv(a.page, dm.username).click();
  await expect(log(a.page).getByText('hello from dan')).toHaveCount(1);
  await a.context.close();
});
