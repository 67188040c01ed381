// The screens. Plain Preact function components reading the store; all writes go
// through store.ts.
import { memo } from 'preact/compat';
import { useEffect, useId, useLayoutEffect, useReducer, useRef, useState } from 'preact/hooks';
import type { Group, Member, User } from '@confab/client';
import { Session, errorText } from './api';
import * as S from './store';
import type { Conv, Msg, Outgoing, Quote, Reaction } from './store';

function useStore(): void {
  const [, bump] = useReducer((n: number, _: void) => n + 1, 0);
  useEffect(() => S.subscribe(() => bump()), []);
}

const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

function Alert({ text }: { text: string }) {
  return text ? <p class="alert" role="alert">{text}</p> : null;
}

function Dot({ on, label }: { on: boolean; label: string }) {
  return <span class={on ? 'dot on' : 'dot'} role="img" aria-label={`${label} ${on ? 'online' : 'offline'}`} title={on ? 'online' : 'offline'} />;
}

export function App() {
  useStore();
  useEffect(() => { performance.mark('confab:interactive'); }, []);
  return (
    <>
      {S.state.session ? <Shell /> : <Auth />}
      <div class="toasts" role="status" aria-live="polite">
        {S.state.toasts.map((t) => <p key={t.id} class="toast">{t.text}</p>)}
      </div>
    </>
  );
}

// ---- sign in ------------------------------------------------------------------------
function Auth() {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const username = String(f.get('username') ?? '').trim();
    const password = String(f.get('password') ?? '');
    setBusy(true);
    setError('');
    try {
      const session = mode === 'login'
        ? await Session.login(username, password)
        : await Session.register(username, password, String(f.get('display_name') ?? '').trim() || undefined);
      await S.start(session);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="auth">
      <h1>confab</h1>
      <div class="tabs" role="tablist" aria-label="Account">
        <button role="tab" aria-selected={mode === 'login'} onClick={() => { setMode('login'); setError(''); }}>Sign in</button>
        <button role="tab" aria-selected={mode === 'register'} onClick={() => { setMode('register'); setError(''); }}>Create account</button>
      </div>
      {S.state.notice && <p class="notice" role="status">{S.state.notice}</p>}
      <form onSubmit={submit} aria-label={mode === 'login' ? 'Sign in' : 'Create account'}>
        <label>Username<input name="username" autocomplete="username" required minLength={3} maxLength={32} autoFocus /></label>
        {mode === 'register' && <label>Display name (optional)<input name="display_name" maxLength={64} /></label>}
        <label>Password<input name="password" type="password" autocomplete={mode === 'login' ? 'current-password' : 'new-password'} required minLength={8} /></label>
        {mode === 'register' && <p class="hint">At least 8 characters; a few unrelated words make a strong password.</p>}
        <Alert text={error} />
        <button type="submit" class="primary" disabled={busy}>{mode === 'login' ? 'Sign in' : 'Create account'}</button>
      </form>
    </main>
  );
}

// ---- the signed-in shell ------------------------------------------------------------
function Shell() {
  const s = S.state;
  const c = S.active();
  const user = s.session!.user;
  const wide = s.panel !== 'none' || c;
  return (
    <div class={wide ? 'shell focus-main' : 'shell'}>
      <header class="top">
        <h1>confab</h1>
        <span class={`conn ${s.conn}`} role="status" aria-live="polite" data-conn={s.conn}>
          {s.conn === 'online' ? 'Connected' : s.conn === 'connecting' ? 'Connecting…' : 'Offline, reconnecting…'}
        </span>
        <span class="me">{user.display_name} <small>@{user.username}</small></span>
        <button onClick={() => void S.logout(false)}>Sign out</button>
        <button onClick={() => void S.logout(true)}>Sign out everywhere</button>
      </header>
      <Sidebar />
      <main class="main">
        {s.panel === 'discover' && <Discover />}
        {s.panel === 'newGroup' && <NewGroup />}
        {s.panel === 'newDm' && <NewDm />}
        {s.panel === 'members' && c && <Members c={c} />}
        {s.panel === 'search' && <SearchMessages />}
        {s.panel === 'none' && c && <Chat c={c} key={c.id} />}
        {s.panel === 'none' && !c && <p class="empty">{s.ready ? 'Pick a conversation, find a group, or message someone.' : 'Loading…'}</p>}
      </main>
    </div>
  );
}

function Sidebar() {
  const s = S.state;
  const panel = (p: S.Panel) => { s.panel = p; s.activeId = p === 'members' ? s.activeId : undefined; S.changed(); };
  return (
    <nav class="side" aria-label="Conversations">
      <div class="actions">
        <button onClick={() => panel('newGroup')}>New group</button>
        <button onClick={() => panel('discover')}>Find groups</button>
        <button onClick={() => panel('newDm')}>Message someone</button>
        <button onClick={() => panel('search')}>Search messages</button>
      </div>
      <ul class="convs">
        {S.sortedConvs().map((c) => {
          const peerOnline = c.kind === 'direct' && c.peer ? c.online.has(c.peer.id) : false;
          return (
            <li key={c.id}>
              <button class={c.id === s.activeId ? 'conv current' : 'conv'} aria-current={c.id === s.activeId ? 'true' : undefined}
                onClick={() => void S.open(c.id)} data-conv={c.name}>
                {c.kind === 'direct' ? <Dot on={peerOnline} label={c.name} /> : <span class="hash" aria-hidden="true">#</span>}
                <span class="name">{c.name}</span>
                {c.unread > 0 && <span class="badge" aria-label={`${c.unread} unread`}>{c.unread}</span>}
                {c.preview !== undefined && <span class="preview">{c.preview}</span>}
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

// ---- a conversation -----------------------------------------------------------------
function Chat({ c }: { c: Conv }) {
  const me = S.state.session!.user;
  const typing = [...c.typing.values()].filter((t) => t.until > Date.now()).map((t) => t.username);
  const others = [...c.online.keys()].filter((id) => id !== me.id).length;
  const peerOnline = c.peer ? c.online.has(c.peer.id) : false;
  return (
    <section class="chat" aria-label={`Conversation ${c.name}`}>
      <header class="chat-head">
        <button class="back" onClick={() => void S.open(undefined)} aria-label="Back to conversations">←</button>
        <h2>{c.kind === 'group' ? `# ${c.name}` : c.name}</h2>
        {c.kind === 'direct'
          ? <span class="presence"><Dot on={peerOnline} label={c.name} /> {peerOnline ? 'online' : 'offline'}</span>
          : <span class="presence" data-online={others}>{others} other{others === 1 ? '' : 's'} online</span>}
        {c.kind === 'group' && <button onClick={() => { S.state.panel = 'members'; S.changed(); }}>Members</button>}
      </header>
      <MessageList c={c} />
      <p class="typing" aria-live="polite">{typing.length ? `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…` : ''}</p>
      <Composer c={c} />
    </section>
  );
}

function MessageList({ c }: { c: Conv }) {
  const me = S.state.session!.user.id;
  const ref = useRef<HTMLDivElement>(null);
  const onScroll = () => {
    const el = ref.current;
    // column-reverse: scrollTop is 0 at the bottom and negative above it.
    if (el) S.setAtBottom(el.scrollTop > -40);
  };
  useLayoutEffect(() => { S.maybeMarkRead(); });
  const focus = S.state.focus;
  const seenBy = [...c.readBy.values()];
  const lastMine = [...c.msgs].reverse().find((m) => m.sender.id === me);
  const seen = lastMine ? seenBy.filter((r) => r.seq >= lastMine.seq).map((r) => r.username) : [];
  return (
    <div class="scroller" ref={ref} onScroll={onScroll}>
      <div class="log" role="log" aria-label={`Messages in ${c.name}`}>
        {c.hasOlder && (
          <button class="older" onClick={() => void S.loadOlder(c)} disabled={c.loading}>
            {c.loading ? 'Loading…' : 'Load older messages'}
          </button>
        )}
        {!c.loaded && c.loading && <p class="empty">Loading…</p>}
        {c.loaded && !c.hasOlder && <p class="start">This is the start of {c.kind === 'group' ? `# ${c.name}` : `your conversation with ${c.name}`}.</p>}
        <ol class="msgs">
          {c.msgs.map((m) => <MessageItem key={m.seq} c={c} m={m} mine={m.sender.id === me}
            focused={focus !== undefined && focus.conv === c.id && focus.seq === m.seq ? focus.n : 0} />)}
          {c.outbox.map((o) => <OutItem key={o.client_id} c={c} o={o} />)}
        </ol>
        {seen.length > 0 && <p class="seen" data-testid="seen">Seen by {seen.join(', ')}</p>}
      </div>
    </div>
  );
}

/** One message. `focused`: non-zero while it is the message shown (a search result or
 * a quote opened), a new number on each request to show it. */
const MessageItem = memo(function MessageItem({ c, m, mine, focused }: { c: Conv; m: Msg; mine: boolean; focused: number }) {
  const [editing, setEditing] = useState(false);
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (!focused) return;
    ref.current?.scrollIntoView({ block: 'center' });
    if (S.state.focus?.take) ref.current?.focus({ preventScroll: true });
  }, [focused]);
  if (m.deleted) {
    return (
      <li ref={ref} class={`msg deleted${focused ? ' focused' : ''}`} data-seq={m.seq} aria-current={focused ? 'true' : undefined}
        tabIndex={focused ? -1 : undefined}>
        <span class="who">{m.sender.username}</span> <em>message deleted</em>
      </li>
    );
  }
  const about = m.body.slice(0, 40);
  return (
    <li ref={ref} class={`${mine ? 'msg mine' : 'msg'}${focused ? ' focused' : ''}`} data-seq={m.seq} aria-current={focused ? 'true' : undefined}
      tabIndex={focused ? -1 : undefined}>
      <span class="who">{m.sender.username}</span>
      <time dateTime={m.created_at}>{time(m.created_at)}</time>
      {m.edited_at && <span class="edited">(edited)</span>}
      {m.replyTo && <QuoteLine c={c} q={m.replyTo} />}
      {editing ? <EditBox c={c} m={m} done={() => setEditing(false)} /> : <p class="body">{m.body}</p>}
      <Reactions c={c} m={m}>
        <button class="reply" title="Reply" aria-label={`Reply to ${m.sender.username}: ${about}`}
          onClick={() => { S.replyTo(c, m); document.getElementById('composer')?.focus(); }}>
          <span aria-hidden="true">↩</span>
        </button>
      </Reactions>
      {mine && !editing && (
        <span class="tools">
          <span class="state" aria-label="sent">✓ sent</span>
          <button onClick={() => setEditing(true)} aria-label={`Edit message: ${about}`}>Edit</button>
          <button onClick={() => void S.remove(c, m)} aria-label={`Delete message: ${about}`}>Delete</button>
        </span>
      )}
    </li>
  );
});

/** A reply's quote of the message it answers: a button that shows that message, or
 * plain text once it was deleted. */
function QuoteLine({ c, q }: { c?: Conv; q: Quote }) {
  if (q.deleted) {
    return <p class="quote deleted"><span aria-hidden="true">↩ </span><span class="sr-only">In reply to a </span>deleted message</p>;
  }
  const text = <><span aria-hidden="true">↩ </span><span class="sr-only">In reply to </span><span class="qwho">{q.sender.username}</span>: {q.excerpt}</>;
  return c
    ? <button type="button" class="quote" title="Show the message this answers" onClick={() => void S.showOriginal(c, q)}>{text}</button>
    : <p class="quote">{text}</p>;
}

// ---- reactions ----------------------------------------------------------------------
/** The picker's choices (the server takes any emoji; these are the common ones). */
const PICKS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

/** A message's reactions (toggle buttons) and its "Add reaction" menu button, after
 * the message's other `children` actions (Reply). */
function Reactions({ c, m, children }: { c: Conv; m: Msg; children?: preact.ComponentChildren }) {
  const [picking, setPicking] = useState(false);
  // Who reacted with the emoji hovered or focused: one line after the buttons.
  const [tip, setTip] = useState<{ emoji: string; text: string } | undefined>();
  const tipId = useId();
  const wrap = useRef<HTMLDivElement>(null);
  const add = useRef<HTMLButtonElement>(null);
  const close = (refocus: boolean) => { setPicking(false); if (refocus) add.current?.focus(); };
  useEffect(() => {
    if (!picking) return;
    // A click anywhere else closes the menu.
    const away = (e: PointerEvent) => { if (!wrap.current?.contains(e.target as Node)) setPicking(false); };
    document.addEventListener('pointerdown', away);
    return () => document.removeEventListener('pointerdown', away);
  }, [picking]);
  const about = m.body.slice(0, 40);
  return (
    <div class="reacts" ref={wrap}>
      {m.reactions.length > 0 && (
        <div class="reactions" role="group" aria-label="Reactions">
          {m.reactions.map((r) => (
            <ReactionButton key={r.emoji} c={c} m={m} r={r} tipId={tip?.emoji === r.emoji ? tipId : undefined}
              onTip={(text) => setTip((t) => (text !== undefined ? { emoji: r.emoji, text } : t?.emoji === r.emoji ? undefined : t))} />
          ))}
          {tip && m.reactions.some((r) => r.emoji === tip.emoji) && <span class="reactors" role="tooltip" id={tipId}>{tip.text}</span>}
        </div>
      )}
      <span class="msg-actions">
        {children}
        <button ref={add} class="add-reaction" aria-haspopup="menu" aria-expanded={picking} title="Add reaction"
          aria-label={`Add reaction to message: ${about}`} onClick={() => setPicking(!picking)}>
          <span aria-hidden="true">🙂+</span>
        </button>
      </span>
      {picking && (
        <Picker label={`Reactions for message: ${about}`} onClose={close}
          inside={(n) => Boolean(wrap.current?.contains(n))}
          onPick={(emoji) => { close(true); void S.react(c, m, emoji, true); }} />
      )}
    </div>
  );
}

/** The emoji menu: focus starts on the first choice; arrow keys, Home and End move,
 * Enter or Space picks, Escape closes (focus back on the button), Tab leaves. */
function Picker({ label, onPick, onClose, inside }: { label: string; onPick: (emoji: string) => void; onClose: (refocus: boolean) => void; inside: (n: Node) => boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => { ref.current?.querySelector('button')?.focus(); }, []);
  const onKeyDown = (e: KeyboardEvent) => {
    const items = [...(ref.current?.querySelectorAll('button') ?? [])];
    const i = items.indexOf(document.activeElement as HTMLButtonElement);
    const go = (j: number) => { e.preventDefault(); items[(j + items.length) % items.length]?.focus(); };
    switch (e.key) {
      case 'ArrowRight': case 'ArrowDown': go(i + 1); break;
      case 'ArrowLeft': case 'ArrowUp': go(i - 1); break;
      case 'Home': go(0); break;
      case 'End': go(items.length - 1); break;
      case 'Escape': e.preventDefault(); e.stopPropagation(); onClose(true); break;
    }
  };
  return (
    <div class="picker" role="menu" aria-label={label} ref={ref} onKeyDown={onKeyDown}
      onFocusOut={(e) => { const to = (e as FocusEvent).relatedTarget as Node | null; if (to && !inside(to)) onClose(false); }}>
      {PICKS.map((emoji) => (
        <button key={emoji} role="menuitem" tabIndex={-1} aria-label={`React with ${emoji}`} onClick={() => onPick(emoji)}>{emoji}</button>
      ))}
    </div>
  );
}

/** One emoji: pressed when I reacted; hovering or focusing it shows who reacted
 * (`onTip`: the first page of listReactors, read again when the message changed). */
function ReactionButton({ c, m, r, tipId, onTip }: { c: Conv; m: Msg; r: Reaction; tipId?: string; onTip: (text?: string) => void }) {
  const shown = useRef(false);
  const who = useRef<{ rev: number; text: string }>();
  const rev = useRef(m.rev);
  rev.current = m.rev;
  const me = S.state.session!.user.id;
  const show = () => {
    shown.current = true;
    if (who.current?.rev === m.rev) { onTip(who.current.text); return; }
    const at = m.rev;
    const count = r.count;
    S.reactors(m, r.emoji).then((page) => {
      const names = page.items.map((u) => (u.id === me ? 'you' : u.username));
      const more = Math.max(0, count - names.length);
      return `${names.join(', ')}${more ? ` and ${more} more` : ''} reacted with ${r.emoji}`;
    }, (e) => `Could not load who reacted: ${errorText(e)}`).then((text) => {
      if (at !== rev.current) return; // the message changed meanwhile: a newer read follows
      who.current = { rev: at, text };
      if (shown.current) onTip(text);
    });
  };
  // Shown while the reactions change (a click on it): read them again.
  useEffect(() => { if (shown.current) show(); }, [m.rev]);
  // The mouse shows it after a short rest (passing over many costs no requests).
  const rest = useRef<ReturnType<typeof setTimeout>>();
  const hide = () => { clearTimeout(rest.current); shown.current = false; onTip(undefined); };
  useEffect(() => () => { if (shown.current) hide(); else clearTimeout(rest.current); }, []);
  return (
    <button class="reaction" aria-pressed={r.me ? 'true' : 'false'} aria-label={`React with ${r.emoji} (${r.count})`}
      aria-describedby={tipId} data-emoji={r.emoji}
      onClick={() => void S.react(c, m, r.emoji, !r.me)}
      onMouseEnter={() => { clearTimeout(rest.current); rest.current = setTimeout(show, 300); }}
      onFocus={show} onMouseLeave={hide} onBlur={hide}
      onKeyDown={(e) => { if (e.key === 'Escape' && tipId) { e.stopPropagation(); hide(); } }}>
      {r.emoji} <span class="n">{r.count}</span>
    </button>
  );
}

function EditBox({ c, m, done }: { c: Conv; m: Msg; done: () => void }) {
  const [body, setBody] = useState(m.body);
  const save = async () => { if (await S.edit(c, m, body)) done(); };
  return (
    <form class="edit" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <label class="sr-only" for={`edit-${m.seq}`}>Edit message</label>
      <textarea id={`edit-${m.seq}`} value={body} autoFocus rows={2}
        onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') done();
          if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void save(); }
        }} />
      <button type="submit">Save</button>
      <button type="button" onClick={done}>Cancel</button>
    </form>
  );
}

function OutItem({ c, o }: { c: Conv; o: Outgoing }) {
  const me = S.state.session!.user.username;
  return (
    <li class={`msg mine out ${o.state}`} data-client-id={o.client_id}>
      <span class="who">{me}</span>
      {o.replyTo && <QuoteLine q={S.quoteNow(c, o.replyTo)} />}
      <p class="body">{o.body}</p>
      <span class="tools">
        {o.state === 'sending' ? <span class="state">sending…</span> : (
          <>
            <span class="state failed" role="alert">Failed: {o.error}</span>
            <button onClick={() => void S.send(c, o.body, o.client_id)}>Retry</button>
            <button onClick={() => S.discard(c, o.client_id)}>Discard</button>
          </>
        )}
      </span>
    </li>
  );
}

function Composer({ c }: { c: Conv }) {
  // The text lives in the store (S.draft), per conversation: a switch re-renders
  // this textarea with the new conversation's draft and never loses what was typed.
  // So does the message being answered (S.replyingTo), shown above the textarea.
  const ref = useRef<HTMLTextAreaElement>(null);
  const submit = () => { if (S.sendDraft() && ref.current) ref.current.value = ''; };
  const r = S.replyingTo(c);
  const barId = useId();
  return (
    <>
      {r && (
        <div class="replying">
          <span class="what" id={barId}>Replying to <span class="qwho">{r.sender.username}</span>: {r.excerpt}</span>
          <button type="button" class="cancel-reply" aria-label={`Cancel reply to ${r.sender.username}`} title="Cancel reply (Escape)"
            onClick={() => { S.cancelReply(c); ref.current?.focus(); }}>×</button>
        </div>
      )}
      <form class="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <label class="sr-only" for="composer">Message {c.name}</label>
        <textarea id="composer" ref={ref} rows={2} maxLength={4000} placeholder={`Message ${c.kind === 'group' ? '#' : ''}${c.name}`} autoFocus
          value={S.draft(c.id)} aria-describedby={r ? barId : undefined}
          onInput={(e) => S.setDraft((e.currentTarget as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
            if (e.key === 'Escape' && S.cancelReply(c)) e.preventDefault();
          }} />
        <button type="submit" class="primary">Send</button>
      </form>
    </>
  );
}

// ---- panels -------------------------------------------------------------------------
function Panel({ title, children }: { title: string; children: preact.ComponentChildren }) {
  const close = () => { S.state.panel = 'none'; S.changed(); };
  return (
    <section class="panel" aria-label={title} onKeyDown={(e) => { if (e.key === 'Escape') close(); }}>
      <header class="chat-head">
        <button class="close" onClick={close} aria-label="Close">← Back</button>
        <h2>{title}</h2>
      </header>
      <div class="panel-body">{children}</div>
    </section>
  );
}

function Discover() {
  const [groups, setGroups] = useState<Group[] | undefined>();
  const [q, setQ] = useState('');
  const [error, setError] = useState('');
  useEffect(() => { S.discoverGroups().then(setGroups, (e) => setError(errorText(e))); }, []);
  const shown = (groups ?? []).filter((g) => `${g.name} ${g.description}`.toLowerCase().includes(q.toLowerCase()));
  return (
    <Panel title="Find groups">
      <label>Search groups<input type="search" value={q} autoFocus onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} /></label>
      <Alert text={error} />
      {!groups && !error && <p>Loading…</p>}
      <ul class="list">
        {shown.map((g) => {
          const member = S.state.convs.has(g.id);
          return (
            <li key={g.id}>
              <span class="name"># {g.name}</span> <small>{g.member_count} member{g.member_count === 1 ? '' : 's'}</small>
              {g.description && <p class="desc">{g.description}</p>}
              {member
                ? <button onClick={() => void S.open(g.id)}>Open</button>
                : <button onClick={() => S.join(g).catch((e) => setError(errorText(e)))} aria-label={`Join ${g.name}`}>Join</button>}
            </li>
          );
        })}
      </ul>
      {groups && shown.length === 0 && <p>No public groups match.</p>}
    </Panel>
  );
}

function NewGroup() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    try {
      await S.newGroup(String(f.get('name') ?? '').trim(), String(f.get('description') ?? '').trim(), f.get('visibility') === 'private' ? 'private' : 'public');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Panel title="New group">
      <form onSubmit={submit}>
        <label>Name<input name="name" required maxLength={100} autoFocus /></label>
        <label>Description<textarea name="description" maxLength={1000} rows={3} /></label>
        <fieldset>
          <legend>Who can join</legend>
          <label class="inline"><input type="radio" name="visibility" value="public" checked /> Anyone (public)</label>
          <label class="inline"><input type="radio" name="visibility" value="private" /> Only people added by an admin (private)</label>
        </fieldset>
        <Alert text={error} />
        <button type="submit" class="primary" disabled={busy}>Create group</button>
      </form>
    </Panel>
  );
}

function UserSearch({ label, onPick }: { label: string; onPick: (u: User) => void }) {
  const [q, setQ] = useState('');
  const [found, setFound] = useState<User[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!q.trim()) { setFound([]); return; }
    const t = setTimeout(() => S.users(q.trim()).then((u) => { setFound(u); setError(''); }, (e) => setError(errorText(e))), 200);
    return () => clearTimeout(t);
  }, [q]);
  return (
    <div class="usersearch">
      <label>{label}<input type="search" value={q} autoFocus placeholder="username" onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} /></label>
      <Alert text={error} />
      <ul class="list">
        {found.map((u) => (
          <li key={u.id}>
            <button onClick={() => onPick(u)}>{u.display_name} <small>@{u.username}</small></button>
          </li>
        ))}
      </ul>
      {q.trim() && found.length === 0 && !error && <p>No one found yet.</p>}
    </div>
  );
}

/** A body with its matches marked: `highlights` are code point offsets. */
function Marked({ body, highlights }: { body: string; highlights: number[][] }) {
  const chars = Array.from(body);
  const parts: preact.ComponentChildren[] = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start > at) parts.push(chars.slice(at, start).join(''));
    parts.push(<mark>{chars.slice(start, end).join('')}</mark>);
    at = end;
  }
  if (at < chars.length) parts.push(chars.slice(at).join(''));
  return <>{parts}</>;
}

function SearchMessages() {
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<S.Hit[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState('');
  const [searched, setSearched] = useState('');
  useEffect(() => {
    const query = q.trim();
    if (!query) { setHits([]); setNext(undefined); setError(''); setSearched(''); return; }
    const t = setTimeout(() => S.findMessages(query).then((page) => {
      setHits(page.items); setNext(page.next_cursor); setError(''); setSearched(query);
    }, (e) => { setHits([]); setNext(undefined); setError(errorText(e)); }), 250);
    return () => clearTimeout(t);
  }, [q]);
  const more = () => S.findMessages(q.trim(), next).then((page) => {
    setHits([...hits, ...page.items]); setNext(page.next_cursor);
  }, (e) => setError(errorText(e)));
  return (
    <Panel title="Search messages">
      <label>Find messages<input type="search" value={q} autoFocus placeholder={'words, "a phrase", prefix*'}
        onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} /></label>
      <Alert text={error} />
      <ul class="list hits" aria-label="Search results">
        {hits.map((h) => (
          <li key={h.message.id}>
            <button onClick={() => void S.openAt(h.message.conversation_id, h.message.seq)}
              aria-label={`Open in ${S.convName(h.message.conversation_id)}: ${h.message.body.slice(0, 60)}`}>
              <span class="where">{S.convName(h.message.conversation_id)}</span>
              <span class="who">{h.message.sender.username}</span>
              <time dateTime={h.message.created_at}>{time(h.message.created_at)}</time>
              <span class="body"><Marked body={h.message.body} highlights={h.highlights} /></span>
            </button>
          </li>
        ))}
      </ul>
      {next && <button onClick={() => void more()}>More results</button>}
      {searched && hits.length === 0 && !error && <p>No messages found.</p>}
    </Panel>
  );
}

function NewDm() {
  const [error, setError] = useState('');
  return (
    <Panel title="Message someone">
      <UserSearch label="Find a person" onPick={(u) => S.dmWith(u).catch((e) => setError(errorText(e)))} />
      <Alert text={error} />
    </Panel>
  );
}

function Members({ c }: { c: Conv }) {
  const me = S.state.session!.user;
  const [list, setList] = useState<Member[] | undefined>();
  const [error, setError] = useState('');
  const [info, setInfo] = useState('');
  const reload = () => S.members(c).then(setList, (e) => setError(errorText(e)));
  useEffect(() => { void reload(); }, [c.id]);
  const mine = list?.find((m) => m.user.id === me.id)?.role;
  const gadmin = me.role === 'admin';
  const isOwner = mine === 'owner' || gadmin;
  const isAdmin = mine === 'admin' || isOwner;
  const act = async (what: () => Promise<unknown>, done: string) => {
    setError('');
    setInfo('');
    try { await what(); setInfo(done); } catch (e) { setError(errorText(e)); }
    await reload(); // either way: roles may have changed under us
  };
  return (
    <Panel title={`Members of # ${c.name}`}>
      <Alert text={error} />
      {info && <p class="notice" role="status">{info}</p>}
      {!list && !error && <p>Loading…</p>}
      <ul class="list members">
        {list?.map((m) => {
          const self = m.user.id === me.id;
          const canRemove = !self && m.role !== 'owner' && (m.role === 'admin' ? isOwner : isAdmin);
          return (
            <li key={m.user.id} data-member={m.user.username}>
              <Dot on={c.online.has(m.user.id) || Boolean(m.online)} label={m.user.username} />
              <span class="name">{m.user.display_name} <small>@{m.user.username}</small></span>
              {isOwner && !self && m.role !== 'owner' ? (
                <label class="inline">Role
                  <select value={m.role} onChange={(e) => void act(() => S.setRole(c, m.user.id, (e.currentTarget as HTMLSelectElement).value as 'member' | 'admin'), `${m.user.username} is now ${(e.currentTarget as HTMLSelectElement).value}.`)}>
                    <option value="member">member</option>
                    <option value="admin">admin</option>
                  </select>
                </label>
              ) : <span class="role">{m.role}</span>}
              {canRemove && <button onClick={() => void act(() => S.kick(c, m.user.id), `Removed ${m.user.username}.`)} aria-label={`Remove ${m.user.username}`}>Remove</button>}
            </li>
          );
        })}
      </ul>
      {isAdmin && <UserSearch label="Add a member" onPick={(u) => void act(() => S.setRole(c, u.id, 'member'), `Added ${u.username}.`)} />}
      <div class="danger">
        {mine && mine !== 'owner' && <button onClick={() => void act(() => S.leave(c), 'Left the group.')}>Leave group</button>}
        {isOwner && <button onClick={() => void act(() => S.destroy(c), 'Group deleted.')}>Delete group</button>}
      </div>
    </Panel>
  );
}
