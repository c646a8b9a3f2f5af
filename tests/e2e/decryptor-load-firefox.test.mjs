/**
 * The fallback's on-demand decryption module failing to load, in Firefox ESR (geckodriver/WebDriver,
 * service workers off: the fallback), against the real Synapse, the page SDK of tests/pages/page:
 * while the module's JS (or its wasm) answers 404, `srcEncrypted` rejects with `wasm_load_failed`
 * (reason `crypto_unavailable`); once it is served again, the next attempt on the same page (no
 * reload) decrypts and shows (a failed dynamic import is tried again, not remembered).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted, SHOW_IMAGE } from '../harness/encrypted.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite } from '../pages/page/site.mjs';

let world;
let site;
let ff;
let file;
/** The path answering 404 while set. */
let blocked = null;

before(async () => {
  world = await loadWorld();
  file = await uploadEncrypted(world, 'decryptor-load-ff', readFixture(world.media.png64));
  site = await startPageSite({
    routes: (req, res, url) => {
      if (url.pathname !== blocked) return false;
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('gone');
      return true;
    },
  });
  ff = await launchFirefox({ prefs: { 'dom.serviceWorkers.enabled': false } });
  await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
});

after(async () => {
  await ff?.close();
  await site?.close();
});

for (const name of ['authmedia_crypto.js', 'authmedia_crypto_bg.wasm']) {
  test(`Firefox ESR fallback: the decryption module's ${name} missing → wasm_load_failed; served again → the next attempt decrypts`, { timeout: 120_000 }, async () => {
    await ff.navigate(site.url('/'));
    await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
    assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
    const alice = world.users.alice;
    await ff.evaluate('window.media = await window.am.AuthMedia.init(args[0]);', { homeserver: world.synapse.baseUrl, accessToken: alice.accessToken, userId: alice.userId });
    assert.equal(await ff.executeScript('return window.media.mode'), 'fallback');

    blocked = `/pkg/dist/${name}`;
    const failed = await ff.evaluate(SHOW_IMAGE, file, 'image/png');
    assert.deepEqual(failed.rejected, { code: 'wasm_load_failed', reason: 'crypto_unavailable' }, JSON.stringify(failed));

    blocked = null;
    const shown = await ff.evaluate(SHOW_IMAGE, file, 'image/png');
    assert.equal(shown.outcome, 'load', JSON.stringify(shown));
    assert.equal(shown.w, world.media.png64.width);
    await ff.evaluate('await window.media.logout();');
  });
}
