// Replies (issue 23): bob answers alice's message by keyboard alone and both pages show
// the reply live with its quote; the quote follows the original's edit and deletion
// live (a live `message` frame carries the quote as it was when the reply was sent, so
// a page that showed only that snapshot fails the edit step), opens the original
// (outlined, focused, loaded around it when it was not), and reads the same after a
// reload (REST). Without the socket a reply goes over REST; a reply to a message
// deleted meanwhile is refused with a toast.
import { test, expect, type Locator, type Page } from '@playwright/test';
import { Server } from './server';
import { composer, conv, log, person, shot, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('replies', { WS_MAX_MSGS_PER_SEC: '1000', WS_BURST: '1000' }); });
test.afterAll(async () => { await server?.stop(); });

const item = (page: Page, text: string) => log(page).locator('li.msg').filter({ has: page.locator('p.body', { hasText: text }) });
const replyButton = (page: Page, who: string, text: string) => item(page, text).getByRole('button', { name: `Reply to ${who}: ${text.slice(0, 40)}` });
/** The quote in the reply whose body has `text` (a button while the original exists). */
const quote = (page: Page, text: string) => item(page, text).locator('.quote');
const bar = (page: Page) => page.locator('.replying');

/** Presses `key` until `target` has the focus (a keyboard user's way there). */
async function tabTo(page: Page, target: Locator, key: 'Tab' | 'Shift+Tab', max = 20): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press(key);
  }
  await expect(target).toBeFocused();
}

async function expectQuote(page: Page, reply: string, who: string, excerpt: string): Promise<void> {
  const q = quote(page, reply);
  await expect(q).toHaveAccessibleName(`In reply to ${who}: ${excerpt}`);
  await expect(q).toHaveText(`↩ In reply to ${who}: ${excerpt}`);
}

async function expectDeletedQuote(page: Page, reply: string): Promise<void> {
  const q = quote(page, reply);
  await expect(q).toHaveText('↩ In reply to a deleted message');
  await expect(q).toHaveClass(/deleted/);
  await expect(item(page, reply).getByRole('button', { name: /^In reply to/ })).toHaveCount(0);
}

test('a reply by keyboard shows live with its quote, which follows edits and deletion and opens the original', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Weekend' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const first = 'shall we meet at the lake on Saturday?';
  await server.api(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: first });
  // enough after it that the original is out of view at the bottom
  for (let i = 1; i <= 30; i++) {
    await server.api(i % 2 ? bob.token : alice.token, 'POST', `/conversations/${g.id}/messages`, { body: `filler ${i}`, client_id: `f${i}` });
  }

  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Weekend').click();
  const b = await person(browser);
  await signIn(b.page, server, bob);
  await conv(b.page, 'Weekend').click();
  await expect(item(a.page, 'filler 30')).toBeVisible();
  await expect(item(b.page, 'filler 30')).toBeVisible();
  await expect(item(a.page, first)).not.toBeInViewport();

  // bob, keyboard only: Tab from the conversation's button in the list to the
  // message's Reply, Enter, type, Enter
  await conv(b.page, 'Weekend').focus();
  const reply = replyButton(b.page, alice.username, first);
  await tabTo(b.page, reply, 'Tab');
  await b.page.keyboard.press('Enter');
  await expect(bar(b.page)).toHaveText(`Replying to ${alice.username}: ${first}×`);
  await expect(bar(b.page).getByRole('button', { name: `Cancel reply to ${alice.username}` })).toBeVisible();
  await expect(composer(b.page)).toBeFocused();
  await expect(composer(b.page)).toHaveAccessibleDescription(`Replying to ${alice.username}: ${first}`);
  await b.page.keyboard.type('yes, ten works for me');
  await b.page.keyboard.press('Enter');
  await expect(bar(b.page)).toHaveCount(0);
  const answer = 'yes, ten works for me';
  await expectQuote(b.page, answer, alice.username, first);
  await expect(item(b.page, answer).getByText('✓ sent')).toBeVisible();

  // alice sees it live, with the quote
  await expectQuote(a.page, answer, alice.username, first);
  await expect(item(a.page, answer)).toBeInViewport();
  await shot(a.page, 'replies-01-live');

  // activating the quote shows the original: scrolled to, outlined, focused
  await expect(item(a.page, first)).not.toBeInViewport();
  await quote(a.page, answer).click();
  await expect(item(a.page, first)).toBeInViewport();
  await expect(item(a.page, first)).toHaveClass(/focused/);
  await expect(item(a.page, first)).toBeFocused();
  await shot(a.page, 'replies-02-original-shown');
  // by keyboard on bob's page
  await quote(b.page, answer).focus();
  await b.page.keyboard.press('Enter');
  await expect(item(b.page, first)).toHaveClass(/focused/);
  await expect(item(b.page, first)).toBeInViewport();
  await expect(item(b.page, first)).toBeFocused();

  // bob starts another reply to it (mouse): the bar, and Escape cancels it
  await replyButton(b.page, alice.username, first).click();
  await expect(bar(b.page)).toContainText(`Replying to ${alice.username}: ${first}`);
  await expect(composer(b.page)).toBeFocused();

  // alice edits the original (longer than an excerpt): both pages' quotes and bob's
  // bar follow live. The reply's `message` frame carried the old text: only the
  // page's own copy of the original has the new one.
  const edited = 'shall we meet at the beach on Sunday instead, around ten, and bring the big blue umbrella for the afternoon sun?';
  const excerpt = Array.from(edited).slice(0, 100).join('');
  expect(excerpt).not.toEqual(edited);
  await item(a.page, first).getByRole('button', { name: /^Edit message/ }).click();
  await a.page.getByRole('textbox', { name: 'Edit message' }).fill(edited);
  await a.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
  await expect(item(a.page, edited)).toContainText('(edited)');
  await expectQuote(a.page, answer, alice.username, excerpt);
  await expectQuote(b.page, answer, alice.username, excerpt);
  await expect(bar(b.page)).toContainText(`Replying to ${alice.username}: ${excerpt}`);
  await expect(bar(b.page)).not.toContainText(first);
  await composer(b.page).press('Escape');
  await expect(bar(b.page)).toHaveCount(0);
  await expect(composer(b.page)).toBeFocused();
  await shot(b.page, 'replies-03-edited');

  // bob reloads: the quote from REST says the same
  await b.page.reload();
  await expect(b.page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
  await conv(b.page, 'Weekend').click();
  await expectQuote(b.page, answer, alice.username, excerpt);

  // bob is about to reply again when alice deletes the original: his bar closes with
  // a message, and every quote says it was deleted
  await replyButton(b.page, alice.username, edited).click();
  await expect(bar(b.page)).toBeVisible();
  await item(a.page, edited).getByRole('button', { name: /^Delete message/ }).click();
  await expect(log(a.page).locator('li.msg.deleted')).toHaveCount(1);
  await expectDeletedQuote(a.page, answer);
  await expectDeletedQuote(b.page, answer);
  await expect(bar(b.page)).toHaveCount(0);
  await expect(b.page.getByRole('status').filter({ hasText: `The message from ${alice.username} you were replying to was deleted.` })).toBeVisible();
  await expect(log(b.page).locator('li.msg.deleted').getByRole('button')).toHaveCount(0);
  await shot(b.page, 'replies-04-deleted');

  // alice reloads: the same from REST
  await a.page.reload();
  await expect(a.page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
  await conv(a.page, 'Weekend').click();
  await expectDeletedQuote(a.page, answer);
  await a.context.close();
  await b.context.close();
});

test('a quote of a message not loaded opens the history around it', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Archive' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const old = await server.api<{ id: string; seq: number }>(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: 'the key is under the mat' });
  for (let i = 1; i <= 80; i++) {
    await server.api(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: `later ${i}`, client_id: `l${i}` });
  }
  await server.api(bob.token, 'POST', `/conversations/${g.id}/messages`, { body: 'which mat?', reply_to: old.id });

  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Archive').click();
  await expectQuote(a.page, 'which mat?', alice.username, 'the key is under the mat');
  await expect(log(a.page).locator(`li.msg[data-seq="${old.seq}"]`)).toHaveCount(0);
  // an edit of it (the page holds no copy: the `message_updated` frame) shows live
  await server.api(alice.token, 'PATCH', `/messages/${old.id}`, { body: 'the key is under the blue mat' });
  await expectQuote(a.page, 'which mat?', alice.username, 'the key is under the blue mat');

  await quote(a.page, 'which mat?').focus();
  await a.page.keyboard.press('Enter');
  const original = log(a.page).locator(`li.msg[data-seq="${old.seq}"]`);
  await expect(original).toHaveClass(/focused/);
  await expect(original).toBeInViewport();
  await expect(original).toBeFocused();
  await expect(original).toContainText('the key is under the blue mat');
  await shot(a.page, 'replies-05-loaded-around');
  await a.context.close();
});

test('without the socket a reply goes over REST; a reply to a message deleted meanwhile is refused with a toast', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Offline' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  await server.api(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: 'who has the tickets?' });
  const doomed = await server.api<{ id: string }>(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: 'the train leaves at noon' });

  const b = await person(browser);
  await signIn(b.page, server, bob);
  await conv(b.page, 'Offline').click();
  await expect(item(b.page, 'the train leaves')).toBeVisible();
  // the socket drops and cannot come back (no tickets); REST still works
  await b.context.route('**/api/v1/auth/ws-ticket', (route) => route.abort());
  await b.context.setOffline(true);
  await expect(b.page.locator('[data-conn]')).not.toHaveAttribute('data-conn', 'online');
  await b.context.setOffline(false);

  await replyButton(b.page, alice.username, 'who has the tickets?').click();
  await composer(b.page).fill('I do');
  await composer(b.page).press('Enter');
  await expectQuote(b.page, 'I do', alice.username, 'who has the tickets?');
  await expect(b.page.locator('[data-conn]')).not.toHaveAttribute('data-conn', 'online');
  const sent = await server.api<{ items: { body: string; reply_to?: { sender: { username: string }; excerpt: string } }[] }>(bob.token, 'GET', `/conversations/${g.id}/messages?limit=10`);
  expect(sent.items.find((m) => m.body === 'I do')?.reply_to).toMatchObject({ sender: { username: alice.username }, excerpt: 'who has the tickets?' });

  // alice deletes the message bob is answering; his page does not hear of it
  await replyButton(b.page, alice.username, 'the train leaves at noon').click();
  await server.api(alice.token, 'DELETE', `/messages/${doomed.id}`);
  await expect(bar(b.page)).toBeVisible();
  await composer(b.page).fill('thanks!');
  await composer(b.page).press('Enter');
  await expect(b.page.getByRole('status').filter({ hasText: `Could not reply to ${alice.username}: that message was deleted.` })).toBeVisible();
  const failed = log(b.page).locator('li.msg.out.failed');
  await expect(failed).toContainText('Not sent as a reply: that message was deleted. Retry sends it without the quote.');
  await shot(b.page, 'replies-06-refused');
  // Retry sends the text as a plain message
  await failed.getByRole('button', { name: 'Retry' }).click();
  await expect(failed).toHaveCount(0);
  await expect(item(b.page, 'thanks!')).toBeVisible();
  await expect(quote(b.page, 'thanks!')).toHaveCount(0);
  const after = await server.api<{ items: { body: string; reply_to?: unknown }[] }>(bob.token, 'GET', `/conversations/${g.id}/messages?limit=10`);
  expect(after.items.filter((m) => m.body === 'thanks!').map((m) => m.reply_to)).toEqual([undefined]);
  await b.context.close();
});
