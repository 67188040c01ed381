// Performance figures, printed and saved to target/web-artifacts/perf.json (copied
// into docs/web-client.md by hand):
//  - time to interactive on localhost, cold (fresh context, nothing cached);
//  - bytes over the wire for the page (gzip as served);
//  - a room receiving 50 messages/s: long tasks, frame gaps and layouts (from the
//    browser's Performance API and Chromium's Performance domain).
import { test, expect } from '@playwright/test';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, Server } from './server';
import { conv, log, person, signIn } from './helpers';

let server: Server;
test.beforeAll(async () => { server = await Server.start('perf', { WS_MAX_MSGS_PER_SEC: '100', WS_BURST: '200' }); });
test.afterAll(async () => { await server?.stop(); });

const figures: Record<string, unknown> = {};
function record(key: string, value: unknown): void {
  figures[key] = value;
  console.log(`perf: ${key} = ${JSON.stringify(value)}`);
  const file = join(ARTIFACTS, 'perf.json');
  const old = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, JSON.stringify({ ...old, ...figures }, null, 2) + '\n');
}

// Timings (time to interactive, frame gaps, long tasks) are recorded and printed,
// never asserted: they measure the machine as much as the page, and a suite must
// pass on a slower or busier one (docs/web-client.md holds the measured figures).
// What is asserted does not depend on the machine's speed: bytes and layout counts.
test('the page weighs under 150 KB gzipped, served gzipped (timings recorded)', async ({ browser }) => {
  const alice = await server.user('alice');
  const a = await person(browser);
  await a.page.goto(`${server.url}/`);
  await expect(a.page.getByRole('form', { name: 'Sign in' }).getByLabel('Username')).toBeEditable();
  const cold = await a.page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const mark = performance.getEntriesByName('confab:interactive')[0];
    const res = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
    return {
      interactive_ms: Math.round(mark.startTime),
      dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      wire_bytes: nav.encodedBodySize + res.reduce((n, r) => n + r.encodedBodySize, 0),
      decoded_bytes: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
    };
  });
  record('sign_in_screen_cold', cold);
  expect(cold.wire_bytes).toBeLessThan(150 * 1024);
  expect(cold.wire_bytes).toBeLessThan(cold.decoded_bytes); // served gzipped

  await signIn(a.page, server, alice);
  await a.page.reload();
  await expect(a.page.locator('[data-conn="online"]')).toBeVisible();
  const warm = await a.page.evaluate(() => ({
    interactive_ms: Math.round(performance.getEntriesByName('confab:interactive')[0].startTime),
    conversations_listed_ms: Math.round(performance.getEntriesByName('confab:ready')[0].startTime),
  }));
  record('signed_in_reload', warm);
  await a.context.close();
});

test('a room receiving 50 messages/s causes no layout thrash (timings recorded)', async ({ browser }) => {
  const N = 300;
  const RATE = 50;
  const alice = await server.user('alice');
  const bob = await server.user('bob');
  const g = await server.api<{ id: string }>(alice.token, 'POST', '/groups', { name: 'Busy room' });
  await server.api(bob.token, 'POST', `/groups/${g.id}/join`);
  const a = await person(browser);
  await signIn(a.page, server, alice);
  await conv(a.page, 'Busy room').click();
  await expect(a.page.getByText('This is the start of # Busy room.')).toBeVisible();

  const cdp = await a.context.newCDPSession(a.page);
  await cdp.send('Performance.enable');
  const metric = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  await a.page.evaluate(() => {
    const w = window as unknown as { __perf: { long: number[]; gaps: number[]; on: boolean } };
    w.__perf = { long: [], gaps: [], on: true };
    new PerformanceObserver((l) => { for (const e of l.getEntries()) w.__perf.long.push(e.duration); }).observe({ type: 'longtask' });
    let last = performance.now();
    const tick = (t: number) => { w.__perf.gaps.push(t - last); last = t; if (w.__perf.on) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  const before = await metric();

  // bob's sender: a bare WebSocket in another context, 50 sends per second
  const b = await person(browser);
  await b.page.goto(`${server.url}/`);
  const sent = await b.page.evaluate(async ({ conversation, token, n, rate }) => {
    const t = await (await fetch('/api/v1/auth/ws-ticket', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).json();
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/ws?ticket=${t.ticket}`);
    let acks = 0;
    let errors = 0;
    ws.onmessage = (e) => { const f = JSON.parse(e.data); if (f.type === 'ack') acks++; if (f.type === 'error') errors++; };
    await new Promise((r) => { ws.onopen = r; });
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      ws.send(JSON.stringify({ type: 'send', conversation, body: `load ${i + 1}`, client_id: `load-${i + 1}` }));
    }
    const seconds = (performance.now() - start) / 1000;
    while (acks + errors < n && performance.now() - start < 30_000) await new Promise((r) => setTimeout(r, 20));
    return { acks, errors, seconds };
  }, { conversation: g.id, token: bob.token, n: N, rate: RATE });
  expect(sent).toMatchObject({ acks: N, errors: 0 });

  await expect(log(a.page).getByText(`load ${N}`, { exact: true })).toBeVisible();
  await expect(log(a.page).locator('li.msg[data-seq]')).toHaveCount(N);
  const after = await metric();
  const p = await a.page.evaluate(() => {
    const w = window as unknown as { __perf: { long: number[]; gaps: number[]; on: boolean } };
    w.__perf.on = false;
    const gaps = [...w.__perf.gaps].sort((x, y) => x - y);
    const q = (f: number) => Math.round(gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * f))] * 10) / 10;
    return { frames: gaps.length, frame_gap_p50_ms: q(0.5), frame_gap_p95_ms: q(0.95), frame_gap_max_ms: q(1), long_tasks: w.__perf.long.length, long_task_total_ms: Math.round(w.__perf.long.reduce((s, d) => s + d, 0)) };
  });
  const fig = {
    messages: N, send_rate_per_s: Math.round((N / sent.seconds) * 10) / 10, ...p,
    layouts: after.LayoutCount - before.LayoutCount,
    layouts_per_message: Math.round(((after.LayoutCount - before.LayoutCount) / N) * 100) / 100,
    style_recalcs: after.RecalcStyleCount - before.RecalcStyleCount,
    layout_ms: Math.round((after.LayoutDuration - before.LayoutDuration) * 1000),
    script_ms: Math.round((after.ScriptDuration - before.ScriptDuration) * 1000),
  };
  record('room_50_msgs_per_s', fig);
  // No layout thrash: at most one layout per message (batching per frame keeps it
  // lower, and lower still on a slow machine). Frame gaps and long tasks are printed.
  expect(fig.layouts_per_message).toBeLessThanOrEqual(1.05);
  await a.context.close();
  await b.context.close();
});
