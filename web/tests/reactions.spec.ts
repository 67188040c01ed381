// Reactions (issue 23): two people in one group react and see each other's reactions
// live (the `reaction` frames: nothing else updates the other page, so a client that
// ignored them fails here), by keyboard through the "Add reaction" menu; an edit
// (whose broadcast carries counts without `me`) keeps who-reacted-as-me; a reaction
// made while a page was offline shows after it reconnects (the rejoin's replay); the
// 21st emoji is refused with a message; a deleted message shows none.
import { test, expect, type Locator, type Page } from '@playwright/test';
import { Server } from './server';
import { conv, log, person, shot, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('reactions', { WS_MAX_MSGS_PER_SEC: '200', WS_BURST: '400' }); });
test.afterAll(async () => { await server?.stop(); });

const item = (page: Page, text: string) => log(page).locator('li.msg').filter({ hasText: text });
/** A message's reaction toggle for `emoji` (the menu's choices are menuitems, not buttons). */
const reaction = (page: Page, text: string, emoji: string) =>
  item(page, text).getByRole('group', { name: 'Reactions' }).getByRole('button', { name: new RegExp(`^React with ${emoji} `) });
const path = (id: string, emoji: string) => `/messages/${id}/reactions/${encodeURIComponent(emoji)}`;

/** Presses `key` until `target` has the focus (a keyboard user's way there). */
async function tabTo(page: Page, target: Locator, key: 'Tab' | 'Shift+Tab', max = 20): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press(key);
  }
  await expect(target).toBeFocused();
}

async function expectReaction(page: Page, text: string, emoji: string, count: number, pressed: boolean): Promise<void> {
  const b = reaction(page, text, emoji);
  await expect(b).toHaveText(`${emoji} ${count}`);
  await expect(b).toHaveAccessibleName(`React with ${emoji} (${count})`);
  await expect(b).toHaveAttribute('aria-pressed', String(pressed));
}

test('reactions show live on both pages, by keyboard, through an edit, and after a reconnect', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Lunch' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const m = await server.api<{ id: string }>(bob.token, 'POST', `/conversations/${g.id}/messages`, { body: 'lunch at noon?' });
  const text = 'lunch at';

  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Lunch').click();
  const b = await person(browser);
  await signIn(b.page, server, bob);
  await conv(b.page, 'Lunch').click();
  await expect(item(a.page, text)).toBeVisible();
  await expect(item(b.page, text)).toBeVisible();
  await expect(item(b.page, text).getByRole('group', { name: 'Reactions' })).toHaveCount(0);

  // alice, keyboard only: Tab from the conversation's button in the list on to the
  // message's "Add reaction"
  await conv(a.page, 'Lunch').focus();
  const add = item(a.page, text).getByRole('button', { name: /^Add reaction to message: lunch at noon/ });
  await tabTo(a.page, add, 'Tab');
  await expect(add).toHaveAttribute('aria-expanded', 'false');
  await a.page.keyboard.press('Enter');
  const menu = item(a.page, text).getByRole('menu');
  await expect(add).toHaveAttribute('aria-expanded', 'true');
  await expect(menu.getByRole('menuitem', { name: 'React with 👍' })).toBeFocused();
  await a.page.keyboard.press('ArrowRight');
  await expect(menu.getByRole('menuitem', { name: 'React with ❤️' })).toBeFocused();
  await a.page.keyboard.press('ArrowLeft');
  await a.page.keyboard.press('ArrowLeft');
  await expect(menu.getByRole('menuitem', { name: 'React with 😢' })).toBeFocused();
  await a.page.keyboard.press('Escape');
  await expect(menu).toBeHidden();
  await expect(add).toBeFocused();
  await a.page.keyboard.press('Space');
  await expect(menu.getByRole('menuitem', { name: 'React with 👍' })).toBeFocused();
  await a.page.keyboard.press('Enter');
  await expect(menu).toBeHidden();
  await expect(add).toBeFocused();

  // bob sees it live; only alice's is pressed
  await expectReaction(b.page, text, '👍', 1, false);
  await expectReaction(a.page, text, '👍', 1, true);

  // bob clicks it: both see 2, pressed on both pages (both reacted)
  await reaction(b.page, text, '👍').click();
  await expectReaction(b.page, text, '👍', 2, true);
  await expectReaction(a.page, text, '👍', 2, true);
  // who reacted: hovering (or focusing) shows the first page of reactors
  await reaction(b.page, text, '👍').hover();
  await expect(item(b.page, text).getByRole('tooltip')).toHaveText(`${alice.username}, you reacted with 👍`);
  await reaction(a.page, text, '👍').focus();
  await expect(item(a.page, text).getByRole('tooltip')).toHaveText(`you, ${bob.username} reacted with 👍`);
  await shot(a.page, 'reactions-01-both');

  // an edit's broadcast carries counts without `me`: each page keeps its own
  await server.api(bob.token, 'PATCH', `/messages/${m.id}`, { body: 'lunch at half past twelve?' });
  await expect(item(a.page, text).getByText('lunch at half past twelve?')).toBeVisible();
  await expect(item(b.page, text).getByText('lunch at half past twelve?')).toBeVisible();
  await expectReaction(a.page, text, '👍', 2, true);
  await expectReaction(b.page, text, '👍', 2, true);

  // alice takes hers back (Enter on the focused toggle): both see 1, bob's still pressed
  await reaction(a.page, text, '👍').focus();
  await a.page.keyboard.press('Enter');
  await expectReaction(a.page, text, '👍', 1, false);
  await expectReaction(b.page, text, '👍', 1, true);

  // bob's page goes offline; alice adds 🎉 (mouse), bob adds 😮 on another device
  await b.context.setOffline(true);
  await expect(b.page.locator('[data-conn]')).not.toHaveAttribute('data-conn', 'online');
  await item(a.page, text).getByRole('button', { name: /^Add reaction/ }).click();
  await item(a.page, text).getByRole('menuitem', { name: 'React with 🎉' }).click();
  await expectReaction(a.page, text, '🎉', 1, true);
  await server.api(bob.token, 'PUT', path(m.id, '😮'));
  await expectReaction(a.page, text, '😮', 1, false);
  await expect(reaction(b.page, text, '🎉')).toHaveCount(0);
  await b.context.setOffline(false);

  // back online: the rejoin replays the message with its reactions and bob's `me`
  await expect(b.page.locator('[data-conn]')).toHaveAttribute('data-conn', 'online', { timeout: 20_000 });
  await expectReaction(b.page, text, '🎉', 1, false);
  await expectReaction(b.page, text, '😮', 1, true);
  await expectReaction(b.page, text, '👍', 1, true);
  // in the order each emoji was first used
  await expect(item(b.page, text).getByRole('group', { name: 'Reactions' }).getByRole('button'))
    .toHaveText(['👍 1', '🎉 1', '😮 1']);
  await shot(b.page, 'reactions-02-after-reconnect');
  await a.context.close();
  await b.context.close();
});

test('a 21st emoji is refused with a message; a deleted message shows no reactions', async ({ browser }) => {
  const alice = await server.user('alice');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Crowded' });
  const full = await server.api<{ id: string }>(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: 'react to this' });
  const twenty = ['😀', '😃', '😄', '😁', '😆', '😅', '🤣', '😊', '😇', '🙂', '🙃', '😉', '😌', '😍', '🥰', '😘', '😗', '😙', '😚', '😋'];
  for (const e of twenty) await server.api(alice.token, 'PUT', path(full.id, e));
  const gone = await server.api<{ id: string }>(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: 'short-lived' });
  await server.api(alice.token, 'PUT', path(gone.id, '👍'));

  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Crowded').click();
  const toggles = item(a.page, 'react to this').getByRole('group', { name: 'Reactions' }).getByRole('button');
  await expect(toggles).toHaveCount(20);
  await expectReaction(a.page, 'react to this', '😀', 1, true);

  await item(a.page, 'react to this').getByRole('button', { name: /^Add reaction/ }).click();
  await item(a.page, 'react to this').getByRole('menuitem', { name: 'React with 🎉' }).click();
  await expect(a.page.getByRole('status').filter({ hasText: 'Could not react with 🎉' })).toBeVisible();
  await expect(toggles).toHaveCount(20);

  await expectReaction(a.page, 'short-lived', '👍', 1, true);
  await server.api(alice.token, 'DELETE', `/messages/${gone.id}`);
  const deleted = log(a.page).locator('li.msg.deleted');
  await expect(deleted).toHaveCount(1);
  await expect(deleted.getByRole('button')).toHaveCount(0);
  await expect(deleted).not.toContainText('👍');
  await a.context.close();
});

test('without the socket a reaction goes over REST and shows from its result', async ({ browser }) => {
  const alice = await server.user('alice');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Quiet' });
  const m = await server.api<{ id: string }>(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: 'anyone there?' });
  await server.api(alice.token, 'PUT', path(m.id, '👍'));
  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Quiet').click();
  await expectReaction(a.page, 'anyone there?', '👍', 1, true);

  // the socket drops and cannot come back (no tickets); REST still works
  await a.context.route('**/api/v1/auth/ws-ticket', (route) => route.abort());
  await a.context.setOffline(true);
  await expect(a.page.locator('[data-conn]')).not.toHaveAttribute('data-conn', 'online');
  await a.context.setOffline(false);
  await reaction(a.page, 'anyone there?', '👍').click();
  await expect(reaction(a.page, 'anyone there?', '👍')).toHaveCount(0);
  await item(a.page, 'anyone there?').getByRole('button', { name: /^Add reaction/ }).click();
  await item(a.page, 'anyone there?').getByRole('menuitem', { name: 'React with 😂' }).click();
  await expectReaction(a.page, 'anyone there?', '😂', 1, true);
  await expect(a.page.locator('[data-conn]')).not.toHaveAttribute('data-conn', 'online');
  const page = await server.api<{ items: { seq: number; reactions: { emoji: string; count: number }[] }[] }>(alice.token, 'GET', `/conversations/${g.id}/messages?limit=10`);
  expect(page.items.map((x) => x.reactions)).toEqual([[{ emoji: '😂', count: 1, me: true }]]);
  await a.context.close();
});
