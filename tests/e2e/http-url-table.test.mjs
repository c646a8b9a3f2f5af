/**
 * `httpUrl()` through the public package (npm/index.js → wasm → core), in headless Chromium, for
 * every option shape against exact URLs, on each API the negotiation can pick (v1, unstable,
 * legacy: homeservers on the test site whose `/versions` answer picks each, under a path prefix):
 *
 * - every URL is the literal one of the table, on the first call (built by the wasm) and on a
 *   repeated call (the loader's memo);
 * - the wasm's general `httpUrl` (options read from the object inside the wasm) builds the same
 *   URL as the loader's fast path (options unpacked into numbers by the loader);
 * - what is refused is refused with the table's code and message, on both paths, every time
 *   (a refusal is never remembered as a URL);
 * - on a new instance, the same URLs come out in another order with a refusal between each two
 *   (the loader reuses the bytes a URL shares with the one built before it).
 *
 * No Synapse needed: `/versions` is all `AuthMedia.init` asks of the homeserver with
 * `fallback: 'force'`, and nothing is fetched.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from '../lib/browser.mjs';
import { startPageSite, waitForPackage } from '../pages/page/site.mjs';

/** Homeserver path prefix → its `/versions` answer (and the API the negotiation picks). */
const HOMESERVERS = {
  v1: { versions: ['r0.6.1', 'v1.11'], unstable_features: {} },
  unstable: { versions: ['r0.6.1', 'v1.10'], unstable_features: { 'org.matrix.msc3916': true } },
  legacy: { versions: ['r0.6.1', 'v1.10'], unstable_features: { 'org.matrix.msc3916': false } },
};

const PREFIX = {
  v1: '/_matrix/client/v1/media/',
  unstable: '/_matrix/client/unstable/org.matrix.msc3916/media/',
  legacy: '/_matrix/media/v3/',
};

const MXC = 'mxc://example.org/abcDEF_-123';

/**
 * [mxc, options, the URL after `{base}{prefix}`]. Options are JSON (`undefined` written as
 * absent, so also JSON-able through page.evaluate); `null` options are their own row.
 */
const URLS = [
  [MXC, undefined, 'download/example.org/abcDEF_-123'],
  [MXC, null, 'download/example.org/abcDEF_-123'],
  [MXC, {}, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: null }, 'download/example.org/abcDEF_-123'],
  [MXC, { thumbnail: null }, 'download/example.org/abcDEF_-123'],
  [MXC, { thumbnail: null, filename: 'x.png' }, 'download/example.org/abcDEF_-123/x.png'],
  [MXC, { filename: 'a b?#%é&access_token=x.png' }, 'download/example.org/abcDEF_-123/a%20b%3F%23%25%C3%A9%26access_token%3Dx.png'],
  [MXC, { filename: "~-._!*'()" }, "download/example.org/abcDEF_-123/~-._%21%2A%27%28%29"],
  [MXC, { filename: '' }, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: '.' }, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: '..' }, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: '...' }, 'download/example.org/abcDEF_-123/...'],
  [MXC, { filename: 'a/b' }, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: 'a\\b' }, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: 'nul\u0000' }, 'download/example.org/abcDEF_-123'],
  [MXC, { filename: '日本' }, 'download/example.org/abcDEF_-123/%E6%97%A5%E6%9C%AC'],
  [MXC, { filename: '😀' }, 'download/example.org/abcDEF_-123/%F0%9F%98%80'],
  [MXC, { thumbnail: { width: 96, height: 96 } }, 'thumbnail/example.org/abcDEF_-123?width=96&height=96'],
  [MXC, { thumbnail: { width: 96, height: 64, method: 'crop' } }, 'thumbnail/example.org/abcDEF_-123?width=96&height=64&method=crop'],
  [MXC, { thumbnail: { width: 800, height: 600, method: 'scale' } }, 'thumbnail/example.org/abcDEF_-123?width=800&height=600&method=scale'],
  [MXC, { thumbnail: { width: 32, height: 32, animated: true } }, 'thumbnail/example.org/abcDEF_-123?width=32&height=32&animated=true'],
  [MXC, { thumbnail: { width: 32, height: 32, animated: false } }, 'thumbnail/example.org/abcDEF_-123?width=32&height=32&animated=false'],
  [MXC, { thumbnail: { width: 32, height: 32, method: 'crop', animated: true } }, 'thumbnail/example.org/abcDEF_-123?width=32&height=32&method=crop&animated=true'],
  [MXC, { thumbnail: { width: 32, height: 32, method: null, animated: null } }, 'thumbnail/example.org/abcDEF_-123?width=32&height=32'],
  [MXC, { thumbnail: { width: 32, height: 32 }, filename: 'ignored.png' }, 'thumbnail/example.org/abcDEF_-123?width=32&height=32'],
  [MXC, { thumbnail: { width: 32.4, height: 32.5, method: 'scale' } }, 'thumbnail/example.org/abcDEF_-123?width=32&height=33&method=scale'],
  [MXC, { thumbnail: { width: 1, height: 1 } }, 'thumbnail/example.org/abcDEF_-123?width=1&height=1'],
  [MXC, { thumbnail: { width: 65535, height: 65536 } }, 'thumbnail/example.org/abcDEF_-123?width=65535&height=65536'],
  [MXC, { thumbnail: { width: 4294967295, height: 1e9 } }, 'thumbnail/example.org/abcDEF_-123?width=4294967295&height=1000000000'],
  ['mxc://[::1]:8448/abc', { filename: 'f' }, 'download/%5B::1%5D:8448/abc/f'],
  ['mxc://[::1]/abc', { thumbnail: { width: 8, height: 8 } }, 'thumbnail/%5B::1%5D/abc?width=8&height=8'],
  ['mxc://127.0.0.1:8008/x', undefined, 'download/127.0.0.1:8008/x'],
  ['mxc://Sub.Example-1.org:65535/ID', undefined, 'download/Sub.Example-1.org:65535/ID'],
  // Long enough to make the wasm memory grow (the loader's views of it must follow).
  [MXC, { filename: 'a'.repeat(300_000) }, `download/example.org/abcDEF_-123/${'a'.repeat(300_000)}`],
  [MXC, { filename: ' '.repeat(100_000) }, `download/example.org/abcDEF_-123/${'%20'.repeat(100_000)}`],
];

/** [mxc, options, code, message, reason?]: refusals (the same whatever the API). */
const REFUSALS = [
  ['mxc://../config', undefined, 'invalid_mxc', 'matrix-authmedia: invalid server name: hostname made only of dots', 'invalid_server_name'],
  ['https://example.org/x', undefined, 'invalid_mxc', 'matrix-authmedia: mxc URI must start with "mxc://"', 'invalid_scheme'],
  ['mxc://example.org', undefined, 'invalid_mxc', 'matrix-authmedia: mxc URI has no media id (expected mxc://<server-name>/<media-id>)', 'missing_media_id'],
  ['mxc://example.org/', undefined, 'invalid_mxc', 'matrix-authmedia: mxc URI has an empty media id', 'empty_media_id'],
  ['mxc:///abc', undefined, 'invalid_mxc', 'matrix-authmedia: mxc URI has an empty server name', 'empty_server_name'],
  ['mxc://example.org/a/b', undefined, 'invalid_mxc', "matrix-authmedia: invalid media id: only A-Z, a-z, 0-9, '_' and '-' are allowed", 'invalid_media_id'],
  ['mxc://example.org/a b', { thumbnail: { width: 32, height: 32 } }, 'invalid_mxc', "matrix-authmedia: invalid media id: only A-Z, a-z, 0-9, '_' and '-' are allowed", 'invalid_media_id'],
  ['mxc://example.org:99999/abc', undefined, 'invalid_mxc', 'matrix-authmedia: invalid server name: port must be 1 to 5 decimal digits, at most 65535', 'invalid_port'],
  ['mxc://[::1/abc', undefined, 'invalid_mxc', "matrix-authmedia: invalid server name: IPv6 literal is missing its closing ']'", 'invalid_server_name'],
  ['mxc://exa mple.org/abc', { filename: 'x' }, 'invalid_mxc', "matrix-authmedia: invalid server name: hostname may only hold A-Z, a-z, 0-9, '-' and '.' (or be a bracketed IPv6 literal)", 'invalid_server_name'],
  ['', undefined, 'invalid_mxc', 'matrix-authmedia: mxc URI must start with "mxc://"', 'invalid_scheme'],
  [MXC, { thumbnail: { width: 0, height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  [MXC, { thumbnail: { width: 32, height: -1 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.height must be a positive integer'],
  [MXC, { thumbnail: { width: 4294967296, height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  [MXC, { thumbnail: { width: '96', height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  [MXC, { thumbnail: { height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  [MXC, { thumbnail: { width: 32, height: 32, method: 'CROP' } }, 'invalid_argument', "matrix-authmedia: thumbnail.method must be 'crop' or 'scale'"],
  [MXC, { thumbnail: { width: 32, height: 32, method: 'undefined' } }, 'invalid_argument', "matrix-authmedia: thumbnail.method must be 'crop' or 'scale'"],
  [MXC, { thumbnail: { width: 32, height: 32, animated: 'true' } }, 'invalid_argument', 'matrix-authmedia: thumbnail.animated must be true or false'],
  [MXC, { thumbnail: { width: 32, height: 32, animated: 1 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.animated must be true or false'],
  [MXC, { thumbnail: 5 }, 'invalid_argument', 'matrix-authmedia: thumbnail must be an object {width, height, method?, animated?}'],
  [MXC, { thumbnail: [] }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  [MXC, { filename: 5 }, 'invalid_argument', 'matrix-authmedia: filename must be a string'],
  [MXC, { thumbnail: { width: NaN, height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  [MXC, { thumbnail: { width: 32, height: Infinity } }, 'invalid_argument', 'matrix-authmedia: thumbnail.height must be a positive integer'],
  [MXC, { thumbnail: { width: -0, height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  ['mxc://example.org/abc', { thumbnail: { width: 0, height: 32 } }, 'invalid_argument', 'matrix-authmedia: thumbnail.width must be a positive integer'],
  // The mxc URI is checked first.
  ['mxc://ex/a.b', { thumbnail: { width: 0, height: 32 } }, 'invalid_mxc', "matrix-authmedia: invalid media id: only A-Z, a-z, 0-9, '_' and '-' are allowed", 'invalid_media_id'],
  [`mxc://example.org/${'a'.repeat(8 * 1024)}`, { thumbnail: { width: 32, height: 32 } }, 'invalid_mxc', 'matrix-authmedia: the mxc URI is longer than 8192 bytes', 'too_long'],
];

let site;
let browser;

before(async () => {
  const routes = {};
  for (const [name, answer] of Object.entries(HOMESERVERS)) {
    routes[`/hs-${name}/_matrix/client/versions`] = (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(answer));
    };
  }
  site = await startPageSite({ routes });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

for (const api of Object.keys(HOMESERVERS)) {
  test(`httpUrl on ${api}: every option shape builds the table's URL, on both paths, first and repeated calls; refusals stay refusals`, { timeout: 60_000 }, async () => {
    const page = browser.page;
    await page.goto(site.url('/'));
    await waitForPackage(page);
    const base = site.url(`/hs-${api}`);
    const r = await page.evaluate(
      async ([base, urls, refusals]) => {
        const { AuthMediaCore } = await import('/pkg/dist/authmedia_web.js');
        const media = await window.am.AuthMedia.init({ homeserver: base, accessToken: 'tok', fallback: 'force', workerUrl: null });
        // The wasm's general path on the same instance: the object is read inside the wasm.
        const core = await AuthMediaCore.init({ homeserver: base, accessToken: 'tok', fallback: 'force', workerUrl: null });
        const outcome = (f) => {
          try {
            return { url: f() };
          } catch (e) {
            return { code: e.code, reason: e.reason, message: e.message, error: e instanceof window.am.AuthMediaError };
          }
        };
        const built = urls.map(([mxc, o]) => ({
          first: outcome(() => media.httpUrl(mxc, o)),
          again: outcome(() => media.httpUrl(mxc, o)),
          general: outcome(() => core.httpUrl(mxc, o)),
        }));
        const refused = refusals.map(([mxc, o]) => ({
          first: outcome(() => media.httpUrl(mxc, o)),
          again: outcome(() => media.httpUrl(mxc, o)),
          general: outcome(() => core.httpUrl(mxc, o)),
        }));
        // Another order, a refusal between each two URLs, on a new instance (an empty memo).
        const other = await window.am.AuthMedia.init({ homeserver: base, accessToken: 'tok', fallback: 'force', workerUrl: null });
        const reordered = [];
        for (let i = urls.length - 1; i >= 0; i--) {
          reordered.push(outcome(() => other.httpUrl(...urls[i])));
          const [mxc, o] = refusals[i % refusals.length];
          if (outcome(() => other.httpUrl(mxc, o)).url !== undefined) reordered.push({ refusalBuilt: mxc });
        }
        other.dispose();
        const out = { api: media.api, built, refused, reordered: reordered.reverse() };
        media.dispose();
        core.dispose?.();
        return out;
      },
      [base, URLS.map(([m, o]) => [m, o]), REFUSALS.map(([m, o]) => [m, o])],
    );
    assert.equal(r.api, api);
    URLS.forEach(([mxc, o, rest], i) => {
      const want = { url: `${base}${PREFIX[api]}${rest}` };
      const got = r.built[i];
      const what = `${mxc} ${JSON.stringify(o)}`.slice(0, 200);
      assert.deepEqual(got.first, want, `first call: ${what}`);
      assert.deepEqual(got.again, want, `repeated call: ${what}`);
      assert.deepEqual(got.general, want, `the wasm's general path: ${what}`);
    });
    assert.deepEqual(
      r.reordered,
      URLS.map(([, , rest]) => ({ url: `${base}${PREFIX[api]}${rest}` })),
      'the same URLs in another order, refusals between them, on a new instance',
    );
    REFUSALS.forEach(([mxc, o, code, message, reason], i) => {
      const want = { code, reason, message, error: true };
      const got = r.refused[i];
      const what = `${mxc} ${JSON.stringify(o)}`.slice(0, 200);
      assert.deepEqual(got.first, want, `first call: ${what}`);
      assert.deepEqual(got.again, want, `repeated call: ${what}`);
      assert.deepEqual(got.general, want, `the wasm's general path: ${what}`);
    });
  });
}
