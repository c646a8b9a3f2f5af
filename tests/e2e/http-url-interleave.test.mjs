/**
 * `httpUrl()`'s fast path (the URL read from the wasm memory, sharing bytes with the instance's
 * previous URL) under the conditions a real client creates, in headless Chromium through the
 * public package:
 *
 * - two instances (two homeservers) in one tab, calls alternating between them;
 * - an options getter that itself calls `httpUrl`, on the same instance and on the other one,
 *   while the outer call is mid-way;
 * - the wasm memory growing (a megabyte-long file name) between calls;
 * - refusals (a very long or malformed mxc URI) between successes;
 * - non-ASCII file names.
 *
 * The oracle for every URL: a fresh instance of the same homeserver for each call (its first
 * call shares no bytes with anything).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from '../lib/browser.mjs';
import { startScriptedHomeserver } from '../lib/scripted-homeserver.mjs';
import { startPageSite, waitForPackage } from '../pages/page/site.mjs';

let site;
let browser;
let hs;

before(async () => {
  hs = await startScriptedHomeserver();
  site = await startPageSite();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
  hs?.closeAllConnections?.();
  await new Promise((r) => hs?.close(r) ?? r());
});

test('httpUrl fast path: two instances interleaved, re-entrant getters, memory growth, refusals and non-ASCII names all give the fresh-instance URL', { timeout: 60_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const origin = `http://127.0.0.1:${hs.address().port}`;
  const r = await page.evaluate(async (origin) => {
    const { AuthMedia } = window.am;
    const init = (path) => AuthMedia.init({ homeserver: origin + path, accessToken: 't', userId: '@u:x', workerUrl: null, fallback: 'force' });
    const homes = { a: '/a-homeserver', b: '/bb' };
    const inst = { a: await init(homes.a), b: await init(homes.b) };
    // What a fresh instance answers (its first call: nothing shared).
    const oracle = async (which, mxc, options) => {
      const fresh = await init(homes[which]);
      try {
        return fresh.httpUrl(mxc, options);
      } catch (e) {
        return `refused ${e.code}`;
      } finally {
        fresh.dispose();
      }
    };
    const calls = [];
    const call = (which, mxc, options, plain = options) => {
      let got;
      try {
        got = inst[which].httpUrl(mxc, options);
      } catch (e) {
        got = `refused ${e.code}`;
      }
      calls.push({ which, mxc, options: plain, got });
      return got;
    };
    const thumb = (width, height, method) => ({ thumbnail: { width, height, method } });
    const long = 'x'.repeat(3000);
    call('a', 'mxc://example.org/first', thumb(64, 64, 'crop'));
    call('b', 'mxc://example.org/first', thumb(64, 64, 'crop'));
    call('a', 'mxc://example.org/firsu', thumb(64, 65, 'crop'));
    call('b', 'mxc://example.org/second', { filename: 'résumé – 日本.pdf' });
    call('a', 'mxc://example.org/second', { filename: 'résumé – 日本.pdf' });
    call('a', 'mxc://example.org/second', { filename: 'résumé – 日本.pdg' });
    call('b', `mxc://example.org/${long}`, undefined);
    call('a', 'not an mxc', thumb(1, 1));
    call('a', 'mxc://example.org/first', thumb(64, 66, 'scale'));
    // The wasm memory grows: a file name of a megabyte (escaped: three times that in the URL).
    call('b', 'mxc://example.org/big', { filename: 'é'.repeat(1 << 19) }, { filename: 'é x 2^19' });
    call('b', 'mxc://example.org/big', { filename: 'é'.repeat(1 << 19) + 'z' }, { filename: 'é x 2^19 + z' });
    call('b', 'mxc://example.org/bigger', thumb(640, 480));
    call('a', 'mxc://example.org/first', thumb(32, 32));
    // Re-entrant getters: the option read calls httpUrl on this instance and on the other.
    const inner = [];
    const sneaky = {
      get thumbnail() {
        inner.push(call('a', 'mxc://example.org/inner-a', thumb(100, 100, 'scale')));
        inner.push(call('b', 'mxc://example.org/inner-b', { filename: 'ïnner.png' }));
        return { width: 100, height: 101, method: 'scale' };
      },
    };
    call('a', 'mxc://example.org/outer', sneaky, thumb(100, 101, 'scale'));
    const sneakyName = {
      get filename() {
        inner.push(call('b', 'mxc://example.org/outer', thumb(100, 101, 'scale')));
        return 'outer.png';
      },
    };
    call('b', 'mxc://example.org/outer2', sneakyName, { filename: 'outer.png' });
    call('a', 'mxc://example.org/outer', thumb(100, 101, 'scale'));
    call('b', 'mxc://example.org/outer2', { filename: 'outer.png' });
    const checked = [];
    for (const c of calls) {
      const options = c.options?.filename?.startsWith('é x 2^19')
        ? { filename: 'é'.repeat(1 << 19) + (c.options.filename.endsWith('z') ? 'z' : '') }
        : c.options;
      const want = await oracle(c.which, c.mxc, options);
      checked.push({ which: c.which, mxc: c.mxc.slice(0, 40), options: c.options, ok: want === c.got, got: c.got.slice(0, 200), want: want.slice(0, 200) });
    }
    return { checked, inner: inner.length };
  }, origin);
  assert.equal(r.inner, 3);
  const wrong = r.checked.filter((c) => !c.ok);
  assert.deepEqual(wrong, [], JSON.stringify(wrong, null, 1));
  assert.ok(r.checked.length >= 18, `${r.checked.length} calls checked`);
});
