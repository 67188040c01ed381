import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { join } from 'node:path';
import { ARTIFACTS, type Server } from './server';

export type TestUser = Awaited<ReturnType<Server['user']>>;

/** A fresh browser context (its own storage: another person, or another device). */
export async function person(browser: Browser, opts: Parameters<Browser['newContext']>[0] = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 }, ...opts });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  return { context, page };
}

export async function signIn(page: Page, server: Server, u: TestUser): Promise<void> {
  await page.goto(`${server.url}/`);
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.getByLabel('Username').fill(u.username);
  await form.getByLabel('Password').fill(u.password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
}

export const conv = (page: Page, name: string) => page.getByRole('navigation', { name: 'Conversations' }).locator(`button[data-conv="${name}"]`);
export const log = (page: Page) => page.getByRole('log');
export const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });

export async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}
