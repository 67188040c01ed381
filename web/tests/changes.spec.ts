// Changes while away (issue 23): a page that was offline while an older message it
// shows was edited and another deleted gets both on reconnect (the SDK rejoins with
// `since_rev`), without reloading.
import { test, expect } from '@playwright/test';
import { Server } from './server';
import { conv, log, person, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('changes'); });
test.afterAll(async () => { await server?.stop(); });

test('an edit and a deletion made while the page was offline show after it reconnects', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Away' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const sent: { id: string }[] = [];
  for (const body of ['the meeting is at 9', 'bring the slides', 'see you there']) {
    sent.push(await server.api<{ id: string }>(alice.token, 'POST', `/conversations/${g.id}/messages`, { body }));
  }
  const b = await person(browser);
  await signIn(b.page, server, bob);
  await conv(b.page, 'Away').click();
  await expect(log(b.page).getByText('the meeting is at 9')).toBeVisible();
  await expect(log(b.page).getByText('bring the slides')).toBeVisible();

  await b.context.setOffline(true);
  await expect(b.page.locator('[data-conn]')).not.toHaveAttribute('data-conn', 'online');
  await server.api(alice.token, 'PATCH', `/messages/${sent[0].id}`, { body: 'the meeting is at 10' });
  await server.api(alice.token, 'DELETE', `/messages/${sent[1].id}`);
  await b.context.setOffline(false);

  await expect(b.page.locator('[data-conn]')).toHaveAttribute('data-conn', 'online', { timeout: 20_000 });
  await expect(log(b.page).getByText('the meeting is at 10')).toBeVisible();
  await expect(log(b.page).getByText('the meeting is at 9')).toBeHidden();
  await expect(log(b.page).locator('li.msg.deleted')).toHaveCount(1);
  await expect(log(b.page).getByText('bring the slides')).toBeHidden();
  await expect(log(b.page).getByText('see you there')).toBeVisible();
  await b.context.close();
});
