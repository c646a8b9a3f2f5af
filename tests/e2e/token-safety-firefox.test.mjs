/**
 * Token safety in Firefox ESR (geckodriver), the rules where the browser engine itself decides
 * (see tests/e2e/token-safety.test.mjs for all rules in Chromium):
 *   (d) a cross-origin redirect target gets no Authorization — fallback (service workers disabled
 *       by pref: the SDK's own fetch follows the 307/308) and worker mode (the worker's fetch);
 *   (g) fallback blobs of active content get a safe type.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';

let world;
let site;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
});

after(async () => {
  await site?.close();
});

/** A recorder posing as a homeserver (/versions: v1.11). */
async function fakeHomeserver() {
  const hs = await startRecorder();
  hs.route('/_matrix/client/versions', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }).end(JSON.stringify({ versions: ['v1.11'] }));
  });
  return hs;
}

async function withFirefox(prefs, fn) {
  const ff = await launchFirefox({ prefs });
  try {
    await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
    await ff.navigate(site.url('/'));
    await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
    assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
    await fn(ff);
  } finally {
    await ff.close();
  }
}

const NO_SW = { 'dom.serviceWorkers.enabled': false };

for (const mode of ['fallback', 'worker']) {
  test(`Firefox ${mode}: a 307/308 from the homeserver to another origin never carries the token`, { timeout: 180_000 }, async () => {
    const cdn = await startRecorder();
    const hs = await fakeHomeserver();
    const token = `firefox-redirect-token-${mode}`;
    hs.redirect('/_matrix/client/v1/media/download/authmedia.test/ff307', (u) => cdn.url(`/cdn307${u.pathname}`), 307);
    hs.redirect('/_matrix/client/v1/media/thumbnail/authmedia.test/ff308', (u) => cdn.url(`/cdn308${u.pathname}${u.search}`), 308);
    try {
      await withFirefox(mode === 'fallback' ? NO_SW : {}, async (ff) => {
        const out = await ff.evaluate(
          `const [opts, mode] = args;
           const media = await window.am.AuthMedia.init(opts);
           window.media = media;
           if (mode === 'worker') {
             for (const t0 = performance.now(); media.mode !== 'worker' && performance.now() - t0 < 30000; ) {
               await new Promise((r) => media.addEventListener('modechange', r, { once: true }));
             }
           }
           const sizes = [];
           for (const [mxc, o] of [['mxc://authmedia.test/ff307', undefined], ['mxc://authmedia.test/ff308', { thumbnail: { width: 32, height: 32 } }]]) {
             const img = new Image();
             img.src = await media.src(mxc, o);
             await img.decode();
             sizes.push(img.naturalWidth);
           }
           return { mode: media.mode, sizes };`,
          { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' },
          mode,
        );
        assert.deepEqual(out, { mode, sizes: [1, 1] });
      });
      await cdn.waitFor((r) => r.method === 'GET' && r.path.startsWith('/cdn307/'));
      await cdn.waitFor((r) => r.method === 'GET' && r.path.startsWith('/cdn308/'));
      assert.deepEqual(cdn.withAuthorization(), [], 'the token followed a cross-origin redirect');
      assert.ok(cdn.requests.every((r) => !JSON.stringify(r).includes(token)));
      const authed = hs.withAuthorization().filter((r) => r.method === 'GET').map((r) => r.path.split('/').pop());
      assert.ok(authed.includes('ff307') && authed.includes('ff308'), `the homeserver got no token: ${authed}`);
    } finally {
      await cdn.close();
      await hs.close();
    }
  });
}

test('Firefox fallback: blobs of HTML, SVG, JavaScript and XML media get application/octet-stream', { timeout: 120_000 }, async () => {
  const token = world.users.alice.accessToken;
  const base = world.synapse.baseUrl;
  const mxcs = {
    html: await mx.upload(base, token, Buffer.from('<script>parent.pwned=1</script>'), 'text/html', 'f.html'),
    svg: await mx.upload(base, token, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="parent.pwned=1"/>'), 'image/svg+xml', 'f.svg'),
    js: await mx.upload(base, token, Buffer.from('parent.pwned=1'), 'application/javascript', 'f.js'),
    xml: await mx.upload(base, token, Buffer.from('<x/>'), 'text/xml', 'f.xml'),
    png: world.media.png64.mxc,
  };
  await withFirefox(NO_SW, async (ff) => {
    const types = await ff.evaluate(
      `const [opts, mxcs] = args;
       const media = await window.am.AuthMedia.init(opts);
       const out = {};
       for (const [k, mxc] of Object.entries(mxcs)) out[k] = (await (await fetch(await media.src(mxc))).blob()).type;
       return out;`,
      { homeserver: base, accessToken: token, userId: world.users.alice.userId },
      mxcs,
    );
    assert.deepEqual(types, { html: 'application/octet-stream', svg: 'application/octet-stream', js: 'application/octet-stream', xml: 'application/octet-stream', png: 'image/png' });
  });
});
