/**
 * Debian Chromium driven by playwright-core (Playwright's own browser download does not work here).
 *
 * API:
 *   launchChromium({ headless = true, args = [], viewport, ...contextOptions }) → Promise<{ context, page, userDataDir, close() }>
 *     A persistent context (launchPersistentContext) on a fresh temporary user-data-dir, so service
 *     workers, caches and storage start empty each launch. `page` is the context's first tab.
 *     `close()` closes the browser and deletes the user-data-dir. Chromium runs with
 *     CHROMIUM_FLAGS (--no-sandbox as root, no background networking, ...).
 *   cdp(page) → Promise<CDPSession>           DevTools protocol session for that page.
 *   stopServiceWorkers(page) → Promise<void>  stops every running service worker (CDP
 *     ServiceWorker.stopAllWorkers): the next fetch starts the worker again with empty memory.
 *   collectConsole(page) → string[]           live array of "type: text" console lines and page errors
 *     (handy in assertion messages).
 *   CHROMIUM_PATH = '/usr/bin/chromium'
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.AUTHMEDIA_CHROMIUM ?? '/usr/bin/chromium';

/** Chromium refuses to start as root without --no-sandbox; no GPU and no /dev/shm in containers;
 * no background networking or component updates (the machine's network is closed); no first-run
 * UI; media may play without a gesture (the video tests start playback from scripts). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--no-default-browser-check',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * @param {{headless?: boolean, args?: string[], viewport?: {width: number, height: number}} & Record<string, any>} [opts]
 */
export async function launchChromium(opts = {}) {
  const { headless = true, args = [], ...contextOptions } = opts;
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless,
      args: [...CHROMIUM_FLAGS, ...args],
      viewport: { width: 1024, height: 768 },
      timeout: 60_000,
      ...contextOptions,
    });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  let closed = false;
  return {
    context,
    page,
    userDataDir,
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** @param {import('playwright-core').Page} page */
export function cdp(page) {
  return page.context().newCDPSession(page);
}

/**
 * Stop all service workers of the browser (their in-memory state is lost).
 * @param {import('playwright-core').Page} page
 */
export async function stopServiceWorkers(page) {
  const session = await cdp(page);
  try {
    await session.send('ServiceWorker.enable');
    await session.send('ServiceWorker.stopAllWorkers');
  } finally {
    await session.detach().catch(() => {});
  }
}

/** @param {import('playwright-core').Page} page */
export function collectConsole(page) {
  /** @type {string[]} */
  const lines = [];
  page.on('console', (msg) => lines.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => lines.push(`pageerror: ${err.message}`));
  return lines;
}
