// Two people in two browser contexts: live group and DM chat, typing, presence,
// unread counts and read markers, history paging, edit/delete, errors, sign-out.
import { test, expect } from '@playwright/test';
import { Server } from './server';
import { composer, conv, log, person, say, shot, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('chat', { WS_MAX_MSGS_PER_SEC: '200', WS_BURST: '400' }); });
test.afterAll(async () => { await server?.stop(); });

test('two people chat live in a group and in a DM: messages, typing, presence, unread, read', async ({ browser }) => {
  const bobUser = await server.user('bob');
  // alice signs up through the page
  const a = await person(browser);
  await a.page.goto(`${server.url}/`);
  await shot(a.page, '01-sign-in');
  await a.page.getByRole('tab', { name: 'Create account' }).click();
  const aliceName = `alice_${Date.now().toString(36)}`;
  const signUp = a.page.getByRole('form', { name: 'Create account' });
  await signUp.getByLabel('Username').fill(aliceName);
  await signUp.getByLabel('Display name (optional)').fill('Alice A.');
  await signUp.getByLabel('Password').fill('violet piano under seventeen moons');
  await signUp.getByRole('button', { name: 'Create account' }).click();
  await expect(a.page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();

  // alice creates a public group
  await a.page.getByRole('button', { name: 'New group' }).click();
  await a.page.getByLabel('Name').fill('Garden club');
  await a.page.getByLabel('Description').fill('Tomatoes and other joys');
  await a.page.getByRole('button', { name: 'Create group' }).click();
  await expect(a.page.getByRole('heading', { name: '# Garden club' })).toBeVisible();

  // bob finds it by search and joins
  const b = await person(browser);
  await signIn(b.page, server, bobUser);
  await b.page.getByRole('button', { name: 'Find groups' }).click();
  await b.page.getByLabel('Search groups').fill('garden');
  await b.page.getByRole('button', { name: 'Join Garden club' }).click();
  await expect(b.page.getByRole('heading', { name: '# Garden club' })).toBeVisible();

  // presence: each sees the other online in the room
  await expect(a.page.locator('[data-online="1"]')).toHaveText('1 other online');
  await expect(b.page.locator('[data-online="1"]')).toHaveText('1 other online');

  // typing, then the message, both ways
  await composer(a.page).pressSequentially('hello', { delay: 20 });
  await expect(b.page.getByText(`${aliceName} is typing…`)).toBeVisible();
  await composer(a.page).press('Enter');
  await expect(log(b.page).getByText('hello', { exact: true })).toBeVisible();
  await expect(log(a.page).locator('li.msg.mine').filter({ hasText: 'hello' }).getByText('✓ sent')).toBeVisible();
  await expect(b.page.getByText(`${aliceName} is typing…`)).toBeHidden();
  await say(b.page, 'hi alice, how are the tomatoes?');
  await expect(log(a.page).getByText('hi alice, how are the tomatoes?')).toBeVisible();
  await shot(a.page, '02-group-chat');

  // DM: bob finds alice and writes; alice sees an unread count, a presence dot, then the message
  await b.page.getByRole('button', { name: 'Message someone' }).click();
  await b.page.getByLabel('Find a person').fill(aliceName.slice(0, 8));
  await b.page.getByRole('button', { name: new RegExp(`@${aliceName}`) }).click();
  await expect(b.page.getByRole('heading', { name: 'Alice A.' })).toBeVisible();
  await say(b.page, 'psst, a private word');
  const dm = conv(a.page, bobUser.username);
  await expect(dm.getByLabel('1 unread')).toBeVisible();
  await expect(dm.getByRole('img', { name: `${bobUser.username} online` })).toBeVisible();
  await dm.click();
  await expect(log(a.page).getByText('psst, a private word')).toBeVisible();
  await expect(dm.getByLabel('1 unread')).toBeHidden();
  // alice's read marker reaches bob
  await expect(b.page.getByTestId('seen')).toHaveText(`Seen by ${aliceName}`);
  await composer(a.page).pressSequentially('go on', { delay: 20 });
  await expect(b.page.getByText(`${aliceName} is typing…`)).toBeVisible();
  await composer(a.page).press('Enter');
  await expect(log(b.page).getByText('go on')).toBeVisible();
  await shot(a.page, '03-dm');

  // unread count in the group while alice is in the DM
  await say(b.page, 'one');
  await b.page.locator(`button[data-conv="Garden club"]`).click();
  await say(b.page, 'group news');
  await expect(conv(a.page, 'Garden club').getByLabel('1 unread')).toBeVisible();

  // bob leaves: alice sees him go offline
  await b.context.close();
  await expect(dm.getByRole('img', { name: `${bobUser.username} offline` })).toBeVisible();

  // narrow (phone) layout and dark scheme
  await a.page.setViewportSize({ width: 390, height: 760 });
  await expect(a.page.getByRole('navigation', { name: 'Conversations' })).toBeHidden();
  await a.page.getByRole('button', { name: 'Back to conversations' }).click();
  await conv(a.page, 'Garden club').click();
  await expect(a.page.getByRole('navigation', { name: 'Conversations' })).toBeHidden();
  await expect(log(a.page).getByText('group news')).toBeVisible();
  await shot(a.page, '05-narrow');
  await a.page.getByRole('button', { name: 'Back to conversations' }).click();
  await expect(conv(a.page, 'Garden club')).toBeVisible();
  await a.page.emulateMedia({ colorScheme: 'dark' });
  await a.page.setViewportSize({ width: 1200, height: 760 });
  await conv(a.page, 'Garden club').click();
  const bg = await a.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(bg).toBe('rgb(17, 20, 23)');
  await shot(a.page, '06-dark');
  await a.context.close();
});

test('history pages back by seq to the first message', async ({ browser }) => {
  const alice = await server.user('alice');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Archive' });
  for (let i = 1; i <= 120; i++) {
    await server.api(alice.token, 'POST', `/conversations/${g.id}/messages`, { body: `history ${i}`, client_id: `h${i}` });
  }
  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Archive').click();
  const msgs = log(a.page).locator('li.msg');
  await expect(msgs).toHaveCount(50);
  await expect(msgs.first()).toHaveAttribute('data-seq', '71');
  await a.page.getByRole('button', { name: 'Load older messages' }).click();
  await expect(msgs).toHaveCount(100);
  await expect(msgs.first()).toHaveAttribute('data-seq', '21');
  // keyboard only: focus the button and press Enter
  await a.page.getByRole('button', { name: 'Load older messages' }).focus();
  await a.page.keyboard.press('Enter');
  await expect(msgs).toHaveCount(120);
  await expect(a.page.getByText('This is the start of # Archive.')).toBeVisible();
  await expect(a.page.getByRole('button', { name: 'Load older messages' })).toBeHidden();
  const seqs = await msgs.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
  expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  await expect(msgs.first()).toContainText('history 1');
  await a.context.close();
});

test('typing straight after clicking a conversation goes to that conversation; drafts survive a switch', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Quick switch' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const dm = await server.api<{ id: string }>(bob.token, 'POST', '/dms', { user_id: alice.id });
  await server.api(bob.token, 'POST', `/conversations/${dm.id}/messages`, { body: 'dm opener' });
  const a = await person(browser);
  const b = await person(browser);
  await signIn(a.page, server, alice);
  await signIn(b.page, server, bob);
  await conv(a.page, 'Quick switch').click();
  await conv(b.page, alice.username).click();
  await expect(log(b.page).getByText('dm opener')).toBeVisible();
  // The click and the typing in one task, before the next frame: the composer on
  // screen is still the DM's when the text goes in, as for a fast typist on a busy
  // machine. The text was typed for the group, and must reach it.
  await b.page.evaluate(() => {
    (document.querySelector('button[data-conv="Quick switch"]') as HTMLButtonElement).click();
    const box = document.querySelector('#composer') as HTMLTextAreaElement;
    box.value = 'typed at once';
    box.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await composer(b.page).press('Enter');
  await expect(log(a.page).getByText('typed at once')).toBeVisible();
  await expect(b.page.getByRole('heading', { name: '# Quick switch' })).toBeVisible();
  await expect(composer(b.page)).toHaveValue('');
  // ... and never went to the DM that was just left.
  await conv(b.page, alice.username).click();
  await expect(log(b.page).getByText('dm opener')).toBeVisible();
  await expect(log(b.page).getByText('typed at once')).toHaveCount(0);
  // A draft stays with its conversation across switches, unsent.
  await composer(b.page).fill('half a thought');
  await conv(b.page, 'Quick switch').click();
  await expect(composer(b.page)).toHaveValue('');
  await conv(b.page, alice.username).click();
  await expect(composer(b.page)).toHaveValue('half a thought');
  await composer(b.page).press('Enter');
  await conv(a.page, bob.username).click();
  await expect(log(a.page).getByText('half a thought')).toBeVisible();
  await a.context.close();
  await b.context.close();
});

test('edit and delete own messages; the other side sees both', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Edits' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const a = await person(browser);
  const b = await person(browser);
  await signIn(a.page, server, alice);
  await signIn(b.page, server, bob);
  await conv(a.page, 'Edits').click();
  await conv(b.page, 'Edits').click();
  await say(a.page, 'teh first draft');
  await expect(log(b.page).getByText('teh first draft')).toBeVisible();
  await a.page.getByRole('button', { name: 'Edit message: teh first draft' }).click();
  const box = a.page.getByRole('textbox', { name: 'Edit message' });
  await box.fill('the first draft');
  await box.press('Enter');
  await expect(log(b.page).getByText('the first draft')).toBeVisible();
  await expect(log(b.page).getByText('(edited)')).toBeVisible();
  await a.page.getByRole('button', { name: 'Delete message: the first draft' }).click();
  await expect(log(b.page).getByText('message deleted')).toBeVisible();
  await expect(log(a.page).getByText('message deleted')).toBeVisible();
  // bob cannot edit or delete alice's messages: the page offers no such buttons
  await say(a.page, 'second');
  await expect(log(b.page).getByText('second')).toBeVisible();
  await expect(b.page.getByRole('button', { name: /^(Edit|Delete) message/ })).toHaveCount(0);
  await a.context.close();
  await b.context.close();
});

test('errors are shown clearly: a forbidden action, a taken username, a wrong password', async ({ browser }) => {
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const carol = await server.user('carol');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Moderated' });
  await server.api(alice.token, 'PUT', `/groups/${g.id}/members/${bob.id}`, { role: 'admin' });
  await server.api(alice.token, 'PUT', `/groups/${g.id}/members/${carol.id}`, { role: 'member' });
  const b = await person(browser);
  await signIn(b.page, server, bob);
  await conv(b.page, 'Moderated').click();
  await b.page.getByRole('button', { name: 'Members' }).click();
  await expect(b.page.getByRole('button', { name: `Remove ${carol.username}` })).toBeVisible();
  await shot(b.page, '04-members');
  // alice demotes bob while his page still shows admin controls
  await server.api(alice.token, 'PUT', `/groups/${g.id}/members/${bob.id}`, { role: 'member' });
  await b.page.getByRole('button', { name: `Remove ${carol.username}` }).click();
  await expect(b.page.getByRole('alert')).toHaveText(/^Not allowed: /);
  // refreshed, the panel shows bob as a plain member without remove buttons
  await expect(b.page.getByRole('button', { name: `Remove ${carol.username}` })).toHaveCount(0);
  await b.context.close();

  const c = await person(browser);
  await c.page.goto(`${server.url}/`);
  await c.page.getByRole('tab', { name: 'Create account' }).click();
  const signUp = c.page.getByRole('form', { name: 'Create account' });
  await signUp.getByLabel('Username').fill(carol.username);
  await signUp.getByLabel('Password').fill('another fine long passphrase');
  await signUp.getByRole('button', { name: 'Create account' }).click();
  await expect(c.page.getByRole('alert')).toHaveText('That username is taken. Pick another one.');
  await signUp.getByLabel('Username').fill(`new_${Date.now().toString(36)}`);
  await signUp.getByLabel('Password').fill('password');
  await signUp.getByRole('button', { name: 'Create account' }).click();
  await expect(c.page.getByRole('alert')).toHaveText(/^Please check the form: password /);
  await c.page.getByRole('tab', { name: 'Sign in' }).click();
  const signInForm = c.page.getByRole('form', { name: 'Sign in' });
  await signInForm.getByLabel('Username').fill(carol.username);
  await signInForm.getByLabel('Password').fill('not the password at all');
  await signInForm.getByRole('button', { name: 'Sign in' }).click();
  await expect(c.page.getByRole('alert')).toHaveText('Wrong username or password.');
  await c.context.close();
});

test('sign out everywhere closes the socket of the other device', async ({ browser }) => {
  const alice = await server.user('alice');
  const laptop = await person(browser);
  const phone = await person(browser, { viewport: { width: 390, height: 760 } });
  await signIn(laptop.page, server, alice);
  const closed = new Promise<void>((resolve) => {
    phone.page.on('websocket', (ws) => ws.on('close', () => resolve()));
  });
  await signIn(phone.page, server, alice);
  await laptop.page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(laptop.page.getByText('Signed out on every device.')).toBeVisible();
  await closed;
  await expect(phone.page.getByText('Your session ended. Please sign in again.')).toBeVisible();
  await expect(phone.page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  // and it stays signed out on reload (its refresh token is revoked and forgotten)
  await phone.page.reload();
  await expect(phone.page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  await laptop.context.close();
  await phone.context.close();
});

test('a reload stays signed in, and no script on the page can read the refresh token', async ({ browser }) => {
  const alice = await server.user('alice');
  const a = await person(browser);
  await signIn(a.page, server, alice);
  // The refresh token is in an HttpOnly cookie scoped to the web-session calls:
  // neither document.cookie nor storage holds a token.
  const cookies = await a.context.cookies();
  const session = cookies.find((c) => c.name === 'confab_refresh');
  expect(session, 'the session cookie').toBeTruthy();
  expect(session!.httpOnly).toBe(true);
  expect(session!.sameSite).toBe('Strict');
  expect(session!.path).toBe('/api/v1/auth/web');
  const visible = await a.page.evaluate(() => ({
    cookie: document.cookie,
    storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
  }));
  expect(visible.cookie).not.toContain('confab_refresh');
  expect(visible.storage).not.toContain(session!.value);
  expect(visible.storage).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no JWT either
  // A reload resumes from the cookie (rotating it) without the sign-in form.
  await a.page.reload();
  await expect(a.page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
  const rotated = (await a.context.cookies()).find((c) => c.name === 'confab_refresh');
  expect(rotated?.value).not.toBe(session!.value);
  // Signing out clears it: a reload shows the sign-in form.
  await a.page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(a.page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  expect((await a.context.cookies()).find((c) => c.name === 'confab_refresh')).toBeUndefined();
  await a.page.reload();
  await expect(a.page.getByRole('form', { name: 'Sign in' })).toBeVisible();
  await a.context.close();
});
