// Headless Chromium (Debian's, driven by playwright-core) for the login and consent pages.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './worker.mjs';

export const ARTIFACTS = join(ROOT, 'tests/artifacts');

export async function launch() {
  return chromium.launch({
    executablePath: process.env.MCPGATE_CHROMIUM || process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Opens `authorizeUrl`, signs in (if asked), takes a screenshot of the consent page, allows,
 * and returns the URL the browser was sent to (the client's redirect URI with code or error).
 */
export async function authorizeInBrowser(browserOrContext, authorizeUrl, { username, password, redirectPrefix, screenshot, decision = 'Allow', onConsent }) {
  const page = await browserOrContext.newPage();
  let landed = null;
  // Seen on the request itself too: a redirect that ends the navigation at once may not reach
  // the route handler before the navigation settles.
  page.on('request', (r) => {
    if (!landed && r.url().startsWith(redirectPrefix)) landed = r.url();
  });
  await page.route((url) => url.href.startsWith(redirectPrefix), async (route) => {
    landed = route.request().url();
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'done' });
  });
  try {
    await page.goto(authorizeUrl).catch((e) => {
      if (!landed) throw e;
    });
    if (await page.locator('input[name=password]').count()) {
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForLoadState();
    }
    if (!landed && (await page.locator('button[name=decision]').count())) {
      if (screenshot) {
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, screenshot), fullPage: true });
      }
      if (onConsent) onConsent(await page.locator('main').innerText());
      await page.getByRole('button', { name: decision }).click();
      await page.waitForLoadState();
    }
    for (let i = 0; i < 50 && !landed; i++) await page.waitForTimeout(100);
    if (!landed) throw new Error(`never redirected; page says: ${(await page.content()).slice(0, 2000)}`);
    return landed;
  } finally {
    await page.close();
  }
}
