// End-to-end tests of @confab/client against the server at CONFAB_URL (scripts/sdk-test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import {
  changeUserRole, createClient, createGroup, createWsTicket, editMessage, deleteMessage, getMe, getPresence,
  addReaction, listDms, listMessages, listReactors, listReplies, login, removeReaction, logoutAll, markRead, openDm, putGroupMember, refresh, register, searchMessages, sendMessage,
  CloseCode, Realtime, RealtimeClosed, RealtimeError,
} from '../src/index.js';
import type { Message } from '../src/index.js';

const baseUrl = process.env.CONFAB_URL;
if (!baseUrl) throw new Error('CONFAB_URL is not set: run these tests with scripts/sdk-test');
const PASSWORD = 'sdk test passphrase 5521';

async function newUser(prefix: string) {
  const anon = createClient({ baseUrl });
  const username = `${prefix}_${randomBytes(5).toString('hex')}`;
  const reg = await register({ client: anon, body: { username, password: PASSWORD } });
  assert.equal(reg.response.status, 201);
  const tokens = (await login({ client: anon, body: { username, password: PASSWORD }, throwOnError: true })).data;
  const client = createClient({ baseUrl, auth: () => tokens.access_token });
  return { user: reg.data!, tokens, client };
}

test('register, log in, refresh, ticket; errors are typed', async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  const anon = createClient({ baseUrl });
  const again = await register({ client: anon, body: { username: alice.user.username, password: PASSWORD } });
  assert.equal(again.response.status, 409);
  assert.equal(again.error?.error.code, 'username_taken');
  // An invalid field: 422, with the typed details naming it.
  const invalid = await register({ client: anon, body: { username: 'No Spaces!', password: PASSWORD } });
  assert.equal(invalid.response.status, 422);
  assert.equal(invalid.error?.error.code, 'validation_failed');
  assert.ok(invalid.error?.error.details?.fields?.username);

  const renewed = await refresh({ client: anon, body: { refresh_token: alice.tokens.refresh_token }, throwOnError: true });
  assert.notEqual(renewed.data.refresh_token, alice.tokens.refresh_token);
  const me = await getMe({ client: createClient({ baseUrl, auth: renewed.data.access_token }), throwOnError: true });
  assert.equal(me.data.id, alice.user.id);

  const ticket = await createWsTicket({ client: alice.client, throwOnError: true });
  assert.ok(ticket.data.ticket.length > 0 && ticket.data.expires_in > 0);

  // A forbidden call: only admins change roles.
  const denied = await changeUserRole({ client: alice.client, path: { id: bob.user.id }, body: { role: 'admin' } });
  assert.equal(denied.response.status, 403);
  assert.equal(denied.error?.error.code, 'forbidden');
});

test('groups over REST: create, add a member, send, page, edit, delete, read', async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  const carol = await newUser('carol');
  const group = (await createGroup({ client: alice.client, body: { name: 'ts room', visibility: 'private' }, throwOnError: true })).data;
  const member = await putGroupMember({ client: alice.client, path: { id: group.id, user_id: bob.user.id }, body: { role: 'member' }, throwOnError: true });
  assert.equal(member.data.user.id, bob.user.id);
  const forbidden = await putGroupMember({ client: bob.client, path: { id: group.id, user_id: carol.user.id }, body: { role: 'member' } });
  assert.equal(forbidden.response.status, 403);
  assert.equal(forbidden.error?.error.code, 'forbidden');

  const sent: Message[] = [];
  for (let i = 0; i < 5; i++) {
    sent.push((await sendMessage({ client: alice.client, path: { id: group.id }, body: { body: `msg ${i}` }, throwOnError: true })).data);
  }
  const page1 = (await listMessages({ client: bob.client, path: { id: group.id }, query: { limit: 2 }, throwOnError: true })).data;
  assert.deepEqual(page1.items.map((m) => m.body), ['msg 3', 'msg 4']);
  assert.equal(page1.has_more, true);
  const page2 = (await listMessages({ client: bob.client, path: { id: group.id }, query: { limit: 2, before: page1.items[0].seq }, throwOnError: true })).data;
  assert.deepEqual(page2.items.map((m) => m.body), ['msg 1', 'msg 2']);
  const page3 = (await listMessages({ client: bob.client, path: { id: group.id }, query: { limit: 2, before: page2.items[0].seq }, throwOnError: true })).data;
  assert.deepEqual(page3.items.map((m) => m.body), ['msg 0']);
  assert.equal(page3.has_more, false);

  const edited = await editMessage({ client: alice.client, path: { id: sent[1].id }, body: { body: 'msg 1 (edited)' }, throwOnError: true });
  assert.equal(edited.data.body, 'msg 1 (edited)');
  const del = await deleteMessage({ client: alice.client, path: { id: sent[2].id } });
  assert.equal(del.response.status, 204);
  const all = (await listMessages({ client: bob.client, path: { id: group.id }, throwOnError: true })).data.items;
  assert.equal(all.find((m) => m.id === sent[2].id)?.deleted, true);
  const read = await markRead({ client: bob.client, path: { id: group.id }, body: { seq: sent[4].seq } });
  assert.equal(read.response.status, 204);
});

test('search: a part of a word, highlights, a cursor; outsiders find nothing', async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  const carol = await newUser('carol');
  const group = (await createGroup({ client: alice.client, body: { name: 'ts search', visibility: 'private' }, throwOnError: true })).data;
  await putGroupMember({ client: alice.client, path: { id: group.id, user_id: bob.user.id }, body: { role: 'member' }, throwOnError: true });
  for (let i = 0; i < 3; i++) {
    await sendMessage({ client: alice.client, path: { id: group.id }, body: { body: `typescripted haystack ${i}` }, throwOnError: true });
  }
  // The index follows within about a second: wait with a deadline.
  const deadline = Date.now() + 15_000;
  const all = async () => (await searchMessages({ client: bob.client, query: { q: 'script' }, throwOnError: true })).data.items;
  while ((await all()).length < 3) {
    assert.ok(Date.now() < deadline, 'never found');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const first = (await searchMessages({ client: bob.client, query: { q: 'script', limit: 2 }, throwOnError: true })).data;
  assert.deepEqual(first.items.map((hit) => hit.message.body), ['typescripted haystack 2', 'typescripted haystack 1']);
  assert.deepEqual(first.items[0].highlights, [[4, 10]]);
  const rest = (await searchMessages({ client: bob.client, query: { q: 'script', limit: 2, cursor: first.next_cursor }, throwOnError: true })).data;
  assert.deepEqual(rest.items.map((hit) => hit.message.body), ['typescripted haystack 0']);
  assert.equal(rest.next_cursor, undefined);
  const outsider = (await searchMessages({ client: carol.client, query: { q: 'script' }, throwOnError: true })).data;
  assert.deepEqual(outsider.items, []);
  const bad = await searchMessages({ client: bob.client, query: { q: '"open quote' } });
  assert.equal(bad.response.status, 400);
  assert.equal(bad.error?.error.code, 'bad_request');
});

test('reactions: REST toggles with me, reactors paged, the reaction delta over the socket', async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  const dm = (await openDm({ client: alice.client, body: { user_id: bob.user.id }, throwOnError: true })).data;
  const sent = (await sendMessage({ client: alice.client, path: { id: dm.id }, body: { body: 'react to this' }, throwOnError: true })).data;
  assert.deepEqual(sent.reactions, []);
  const b = await Realtime.connect({ baseUrl, token: bob.tokens.access_token });
  try {
    await b.join(dm.id, 1);
    for (let i = 0; i < 2; i++) {
      const put = await addReaction({ client: alice.client, path: { id: sent.id, emoji: '👍' } });
      assert.equal(put.response.status, 204); // idempotent
    }
    const delta = await b.next('reaction', (f) => f.message === sent.id);
    assert.deepEqual([delta.emoji, delta.on, delta.count, delta.user.id, delta.rev], ['👍', true, 1, alice.user.id, 1]);
    assert.equal(b.lastRev.get(dm.id), 1);
    b.react(dm.id, sent.id, ':+1:');
    const mine = await b.next('reaction', (f) => f.user.id === bob.user.id);
    assert.deepEqual([mine.count, mine.rev], [2, 2]);

    const page = (await listMessages({ client: bob.client, path: { id: dm.id }, throwOnError: true })).data;
    assert.deepEqual(page.items[0].reactions, [{ emoji: '👍', count: 2, me: true }]);
    const who = (await listReactors({ client: bob.client, path: { id: sent.id, emoji: '👍' }, query: { limit: 1 }, throwOnError: true })).data;
    assert.equal(who.items.length, 1);
    const rest = (await listReactors({ client: bob.client, path: { id: sent.id, emoji: '👍' }, query: { cursor: who.next_cursor }, throwOnError: true })).data;
    assert.deepEqual(new Set([...who.items, ...rest.items].map((u) => u.id)), new Set([alice.user.id, bob.user.id]));

    await removeReaction({ client: alice.client, path: { id: sent.id, emoji: '👍' }, throwOnError: true });
    const off = await b.next('reaction', (f) => !f.on);
    assert.deepEqual([off.user.id, off.count], [alice.user.id, 1]);
    const bad = await addReaction({ client: alice.client, path: { id: sent.id, emoji: 'not-an-emoji' } });
    assert.equal(bad.response.status, 422);
    assert.equal(bad.error?.error.code, 'validation_failed');
  } finally {
    await b.close();
  }
});

test('replies: reply_to over REST and the socket, the excerpt, the list of replies', async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  const dm = (await openDm({ client: alice.client, body: { user_id: bob.user.id }, throwOnError: true })).data;
  const question = (await sendMessage({ client: alice.client, path: { id: dm.id }, body: { body: 'lunch at noon?' }, throwOnError: true })).data;
  const answer = (await sendMessage({ client: bob.client, path: { id: dm.id }, body: { body: 'yes', reply_to: question.id }, throwOnError: true })).data;
  assert.equal(answer.reply_to?.id, question.id);
  assert.equal(answer.reply_to?.excerpt, 'lunch at noon?');
  const a = await Realtime.connect({ baseUrl, token: alice.tokens.access_token });
  try {
    await a.join(dm.id, 2);
    const ack = await a.send(dm.id, 'great', undefined, 10_000, answer.id);
    const echo = await a.next('message', (f) => f.id === ack.id);
    assert.equal(echo.reply_to?.excerpt, 'yes');
  } finally {
    await a.close();
  }
  const listed = (await listReplies({ client: alice.client, path: { id: question.id }, throwOnError: true })).data;
  assert.deepEqual(listed.items.map((m) => m.body), ['yes']);
  const bad = await sendMessage({ client: bob.client, path: { id: dm.id }, body: { body: 'x', reply_to: `${dm.id}-999` } });
  assert.equal(bad.response.status, 404);
});

test('realtime: DM over the socket, ack, presence, read, reconnect and catch-up, logout-all', async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  const dm = (await openDm({ client: alice.client, body: { user_id: bob.user.id }, throwOnError: true })).data;

  const ticket = async () => (await createWsTicket({ client: bob.client, throwOnError: true })).data.ticket;
  const a = await Realtime.connect({ baseUrl, token: alice.tokens.access_token });
  const b = await Realtime.connect({ baseUrl, ticket });
  try {
    assert.equal((await a.join(dm.id, 0)).last_seq, 0);
    await b.join(dm.id, 0);

    const ack = await a.send(dm.id, 'hello over the socket', 'cid-1');
    assert.equal(ack.client_id, 'cid-1');
    assert.equal(ack.seq, 1);
    // In a DM, a participant is present to the other once they have written there:
    // alice's first message announces her to bob (bob has not written: not to alice).
    const presence = await b.next('presence', (f) => f.user.id === alice.user.id);
    assert.equal(presence.status, 'online');
    const online = (await getPresence({ client: alice.client, path: { id: dm.id }, throwOnError: true })).data;
    assert.deepEqual(new Set(online.online.map((u) => u.id)), new Set([alice.user.id]));
    const got = await b.next('message');
    assert.equal(got.body, 'hello over the socket');
    assert.equal(got.sender.id, alice.user.id);
    assert.equal((await a.send(dm.id, 'hello over the socket', 'cid-1')).id, ack.id); // a repeat: same ack

    // An edit and a delete over REST reach the socket as message_updated / message_deleted.
    await editMessage({ client: alice.client, path: { id: ack.id }, body: { body: 'hello (edited)' }, throwOnError: true });
    const updated = await b.next('message_updated', (f) => f.id === ack.id);
    assert.equal(updated.body, 'hello (edited)');
    assert.ok(updated.edited_at);
    const extra = (await sendMessage({ client: alice.client, path: { id: dm.id }, body: { body: 'to delete' }, throwOnError: true })).data;
    assert.equal((await b.next('message', (f) => f.id === extra.id)).seq, 2);
    await deleteMessage({ client: alice.client, path: { id: extra.id }, throwOnError: true });
    assert.equal((await b.next('message_deleted', (f) => f.id === extra.id)).seq, 2);

    b.markRead(dm.id, 1);
    assert.equal((await a.next('read', (f) => f.user.id === bob.user.id)).seq, 1);
    await assert.rejects(a.send(dm.id, 'x'.repeat(5000)), (e: unknown) => e instanceof RealtimeError && e.code === 'validation_failed');

    // Drop bob's connection; alice writes while he is away; he rejoins from seq 2.
    b.dropConnection();
    await new Promise((r) => setTimeout(r, 50));
    await sendMessage({ client: alice.client, path: { id: dm.id }, body: { body: 'while away 1' }, throwOnError: true });
    await sendMessage({ client: alice.client, path: { id: dm.id }, body: { body: 'while away 2' }, throwOnError: true });
    const caught = [(await b.next('message', () => true, 15_000)).body, (await b.next('message', () => true, 15_000)).body];
    assert.deepEqual(caught, ['while away 1', 'while away 2']);
    assert.equal(b.connects, 2);

    const dms = (await listDms({ client: bob.client, throwOnError: true })).data;
    assert.ok(dms.items.some((c) => c.id === dm.id));

    // logout-all revokes alice's tokens: her socket is closed with 4001, for good.
    const out = await logoutAll({ client: alice.client });
    assert.equal(out.response.status, 204);
    const ended = await Promise.race([a.ended, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
    assert.ok(ended instanceof RealtimeClosed, 'the socket was not closed within 10 s');
    assert.equal(ended.code, CloseCode.unauthorized);
    await assert.rejects(a.next('typing', () => true, 1000), (e: unknown) => e instanceof RealtimeClosed);
    assert.equal(a.connects, 1);
    await assert.rejects(Realtime.connect({ baseUrl, token: alice.tokens.access_token }));
  } finally {
    await a.close();
    await b.close();
  }
});
