/**
 * The same session handed to the worker again while a request of it is in flight (Chromium, real
 * Synapse behind the fault proxy, which only records here). A page hands its session over more than
 * once: a second `AuthMedia.init` in the tab (React StrictMode makes two instances of every
 * component), each instance's handoff to the worker that claims the page. A repeated handoff of the
 * same token is the same session: the media the worker is fetching for the tab must still arrive.
 *
 * The request is held upstream by Synapse itself: the mxc is created empty (`POST
 * /_matrix/media/v1/create`), so the download waits for the content, which is PUT only after the
 * second instance's handoff was answered.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startFaultProxy } from '../lib/fault-proxy.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, openInWorkerMode, hasWorker } from '../pages/page/site.mjs';

let world;
let site;

before(async () => {
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  world = await loadWorld();
  site = await startPageSite();
});

after(async () => {
  await site?.close();
});

test('a second instance handing the same session over does not end the media in flight for the tab', { timeout: 120_000 }, async () => {
  const base = world.synapse.baseUrl;
  const { alice } = world.users;
  const png = world.media.png800;
  const bytes = readFileSync(png.path);
  const proxy = await startFaultProxy({ target: base });
  const browser = await launchChromium();
  const lines = collectConsole(browser.page);
  const { page } = browser;
  try {
    const opts = { homeserver: proxy.origin, accessToken: alice.accessToken, userId: alice.userId, fallbackWarning: false };
    await openInWorkerMode(page, site.url('/'), opts, () => lines.join('\n'));
    const mxc = await mx.createMedia(base, alice.accessToken);
    const { mediaId } = mx.parseMxc(mxc);

    // A download through the worker, held by Synapse until the content exists.
    await page.evaluate((mxc) => {
      window.pending = fetch(window.media.httpUrl(mxc)).then(
        async (r) => ({ status: r.status, size: (await r.arrayBuffer()).byteLength, code: r.headers.get('authmedia-code') }),
        (e) => ({ error: String(e) }),
      );
    }, mxc);
    await proxy.waitFor((r) => r.method === 'GET' && r.path.includes('/download/') && r.path.includes(mediaId), 30_000);

    // A second instance of the SDK in the tab hands the same session over to the worker.
    const second = await page.evaluate(async (opts) => {
      window.second = await window.am.AuthMedia.init(opts);
      return window.second.mode;
    }, opts);
    assert.equal(second, 'worker');

    await mx.uploadTo(base, alice.accessToken, mxc, bytes, png.contentType, 'again.png');
    const got = await page.evaluate(() => window.pending);
    assert.deepEqual(got, { status: 200, size: bytes.length, code: null }, JSON.stringify(got));
    const downloads = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(mediaId));
    assert.ok(downloads.length >= 1 && downloads.every((r) => r.headers.authorization === `Bearer ${alice.accessToken}`), 'every download of it went upstream with the token');
  } catch (e) {
    e.message += `\n--- browser console ---\n${lines.slice(-40).join('\n')}`;
    throw e;
  } finally {
    await browser.close();
    await proxy.close();
  }
});
