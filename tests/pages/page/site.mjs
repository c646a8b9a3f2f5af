/**
 * Test site for the page SDK: tests/pages/page/index.html at "/", the worker files of the built
 * package (npm/sw/*) copied to the site root (as the README tells integrators to), and the package
 * itself (npm/) at "/pkg/".
 *
 * API:
 *   startPageSite({ host?, routes?, npmDir? }) → Promise<static server (support/static-server.mjs) & { dir }>
 *                      (npmDir: another build of the package, for benchmarks; default npm/)
 *   requirePackage()   throws a clear error when scripts/build.sh has not been run
 *   hasWorker()        whether the package holds the worker files
 *   initScript(opts)   an async function body for page.evaluate that inits AuthMedia with `opts`
 *                      (JSON) and records its events in window.events; returns {mode, api, reason}
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../../support/static-server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..', '..');
export const NPM_DIR = path.join(REPO, 'npm');
const SW_DIR = path.join(NPM_DIR, 'sw');

export function requirePackage() {
  if (!existsSync(path.join(NPM_DIR, 'dist', 'authmedia_web_bg.wasm'))) {
    throw new Error('npm/dist is missing: run scripts/build.sh first');
  }
}

export function hasWorker() {
  return existsSync(path.join(SW_DIR, 'authmedia-sw.js'));
}

export async function startPageSite({ host = '127.0.0.1', routes, npmDir = NPM_DIR } = {}) {
  if (npmDir === NPM_DIR) requirePackage();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-page-site-'));
  copyFileSync(path.join(HERE, 'index.html'), path.join(dir, 'index.html'));
  const swDir = path.join(npmDir, 'sw');
  if (existsSync(swDir)) {
    for (const f of readdirSync(swDir)) {
      if (f.endsWith('.js') || f.endsWith('.wasm')) copyFileSync(path.join(swDir, f), path.join(dir, f));
    }
  }
  const server = await startStaticServer({ root: dir, mounts: { '/pkg/': npmDir }, host, routes });
  const close = server.close.bind(server);
  return Object.assign(server, {
    dir,
    async close() {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** Waits for the page's module to load the package. */
export async function waitForPackage(page) {
  await page.waitForFunction(() => window.amLoaded || window.amLoadError, null, { timeout: 30_000 });
  const err = await page.evaluate(() => window.amLoadError);
  if (err) throw new Error(`the page could not import the package: ${err}`);
}

/** Inits AuthMedia in the page as `window.media`, recording its events. */
export async function initInPage(page, opts) {
  return page.evaluate(async (opts) => {
    const media = await window.am.AuthMedia.init(opts);
    window.media = media;
    for (const type of ['modechange', 'error', 'progress']) {
      media.addEventListener(type, (e) => {
        const d = e.detail || {};
        window.events.push({ type, mode: d.mode, previous: d.previous, code: d.error && d.error.code, mxc: d.mxc, loaded: d.loaded, total: d.total });
      });
    }
    return { mode: media.mode, api: media.api, reason: media.fallbackReason };
  }, opts);
}

/**
 * Opens the page site, inits the SDK with `opts` and waits until it is in worker mode with a
 * controlling worker (the first load registers it and it claims the page); `logs()` is added to
 * the error when it never gets there.
 */
export async function openInWorkerMode(page, url, opts, logs = () => '') {
  await page.goto(url);
  await waitForPackage(page);
  await initInPage(page, opts);
  await page
    .waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller !== null, null, { timeout: 30_000 })
    .catch((e) => {
      throw new Error(`${e.message}\n${logs()}`);
    });
}

/**
 * Render report of every [data-mxc] element under #root: state, and whether it really shows
 * (images decoded with a natural size; video with metadata).
 */
export function renderReport(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#root [data-mxc]')].map((el) => ({
      id: el.id,
      tag: el.tagName.toLowerCase(),
      state: el.dataset.authmediaState ?? null,
      error: el.dataset.authmediaError ?? null,
      src: (el.getAttribute('src') || '').slice(0, 200),
      ok:
        el.tagName === 'IMG'
          ? el.complete && el.naturalWidth > 0
          : el.tagName === 'VIDEO'
            ? el.readyState >= 1 && el.videoWidth > 0
            : true,
      naturalWidth: el.naturalWidth ?? null,
      naturalHeight: el.naturalHeight ?? null,
      videoWidth: el.videoWidth ?? null,
      duration: el.duration ?? null,
    })),
  );
}
