/**
 * `httpUrl()` remembers the URLs it built (npm/index.js), in headless Chromium against the real
 * Synapse:
 *
 * - a repeated call answers from the memo (the wasm is not called again) with the same URL as the
 *   wasm builds;
 * - the memo is dropped when the wasm's `urlEpoch` (what else the URL depends on: the negotiated
 *   API) changes — the getter is replaced in the page to play a renegotiation;
 * - what the wasm refuses is still refused after a look-alike was remembered (a method string
 *   "undefined", a width given as a string, an mxc URI whose text runs into the request's key),
 *   and getters are read once;
 * - instances do not share their memo.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage } from '../pages/page/site.mjs';

let world;
let site;
let browser;

before(async () => {
  world = await loadWorld();
  site = await startPageSite();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('httpUrl: repeated calls come from the memo, a new urlEpoch drops it, refusals stay refusals', { timeout: 90_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  await initInPage(page, {
    homeserver: world.synapse.baseUrl,
    accessToken: world.users.alice.accessToken,
    userId: world.users.alice.userId,
    fallback: 'force',
  });
  const r = await page.evaluate(async ([mxc, hs, token]) => {
    const { AuthMediaCore } = await import('/pkg/dist/authmedia_web.js');
    const proto = AuthMediaCore.prototype;
    const realHttpUrl = proto.httpUrl;
    const realThumbnailUrl = proto.thumbnailUrl;
    const realDownloadUrl = proto.downloadUrl;
    const realEpoch = Object.getOwnPropertyDescriptor(proto, 'urlEpoch').get;
    let wasmCalls = 0;
    let epochOverride = null;
    proto.httpUrl = function (...args) {
      wasmCalls++;
      return realHttpUrl.apply(this, args);
    };
    let coreObj = null;
    proto.thumbnailUrl = function (...args) {
      wasmCalls++;
      coreObj = this;
      return realThumbnailUrl.apply(this, args);
    };
    proto.downloadUrl = function (...args) {
      wasmCalls++;
      coreObj = this;
      return realDownloadUrl.apply(this, args);
    };
    Object.defineProperty(proto, 'urlEpoch', {
      configurable: true,
      get() {
        return epochOverride ?? realEpoch.call(this);
      },
    });
    const code = (f) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return e.code;
      }
    };
    const thumb = { thumbnail: { width: 96, height: 96, method: 'crop' } };
    const out = {};
    try {
      const m = window.media;
      const first = m.httpUrl(mxc, thumb);
      const again = m.httpUrl(mxc, { thumbnail: { width: 96, height: 96, method: 'crop' } });
      out.repeated = { same: first === again, wasmCalls };
      out.download = m.httpUrl(mxc) === m.httpUrl(mxc, {}) && m.httpUrl(mxc, { filename: null }) === m.httpUrl(mxc);
      out.afterDownload = wasmCalls;
      // What the URL is made of changes (a renegotiated API): the memo is not trusted any more.
      epochOverride = 99;
      m.httpUrl(mxc, thumb);
      out.afterEpoch = wasmCalls;
      m.httpUrl(mxc, thumb);
      out.afterEpochAgain = wasmCalls;
      epochOverride = null;
      // Look-alikes of remembered requests are still the wasm's to refuse.
      m.httpUrl(mxc, { thumbnail: { width: 96, height: 96 } });
      out.refused = {
        methodUndefinedString: code(() => m.httpUrl(mxc, { thumbnail: { width: 96, height: 96, method: 'undefined' } })),
        widthString: code(() => m.httpUrl(mxc, { thumbnail: { width: '96', height: 96, method: 'crop' } })),
        mxcRunningIntoKey: code(() => m.httpUrl(`${mxc}\u0000t96\u000096\u0000-+crop`)),
        badMxc: code(() => m.httpUrl('mxc://no', thumb)),
      };
      // The memo's path (the wasm's `thumbnailUrl`/`downloadUrl`, options as numbers) builds what
      // `httpUrl` does.
      const variants = [undefined, { filename: 'x y.png' }, { thumbnail: { width: 32.4, height: 32, method: 'scale' } }, { thumbnail: { width: 64, height: 64, animated: true } }, { thumbnail: { width: 64, height: 64, animated: false, method: 'crop' } }];
      out.sameAsWasm = variants.map((o) => m.httpUrl(mxc, o) === realHttpUrl.call(coreObj, mxc, o));
      out.refusedOf = code(() => m.httpUrl(mxc, { thumbnail: { width: 0, height: 32 } }));
      out.filenameKept = m.httpUrl(mxc, { filename: 'a b.png' }).endsWith('/a%20b.png');
      // Getters are read once, and the wasm gets what was read.
      let reads = 0;
      const flaky = { thumbnail: { get width() { reads++; return reads === 1 ? 32 : 640; }, height: 32 } };
      out.getter = { url: m.httpUrl(mxc, flaky).includes('width=32'), reads };
      // Another instance of the same session has its own memo.
      const calls = wasmCalls;
      const other = await window.am.AuthMedia.init({ homeserver: hs, accessToken: token, fallback: 'force' });
      out.other = { same: other.httpUrl(mxc, thumb) === first, wasmCalls: wasmCalls - calls };
      other.dispose();
    } finally {
      proto.httpUrl = realHttpUrl;
      proto.thumbnailUrl = realThumbnailUrl;
      proto.downloadUrl = realDownloadUrl;
      Object.defineProperty(proto, 'urlEpoch', { configurable: true, get: realEpoch });
    }
    return out;
  }, [world.media.png64.mxc, world.synapse.baseUrl, world.users.alice.accessToken]);
  assert.deepEqual(r.repeated, { same: true, wasmCalls: 1 }, 'a repeated call must not reach the wasm');
  assert.equal(r.download, true);
  assert.equal(r.afterDownload, 2, 'downloads with no/empty/null options share one memo entry');
  assert.equal(r.afterEpoch, 3, 'a new urlEpoch must drop the memo');
  assert.equal(r.afterEpochAgain, 3);
  assert.deepEqual(r.refused, { methodUndefinedString: 'invalid_argument', widthString: 'invalid_argument', mxcRunningIntoKey: 'invalid_mxc', badMxc: 'invalid_mxc' });
  assert.equal(r.filenameKept, true);
  assert.deepEqual(r.sameAsWasm, [true, true, true, true, true]);
  assert.equal(r.refusedOf, 'invalid_argument');
  assert.deepEqual(r.getter, { url: true, reads: 1 });
  assert.deepEqual(r.other, { same: true, wasmCalls: 1 }, 'each instance has its own memo');
});

test('httpUrl: an mxc the wasm parsed goes as its number; a number from before its table started over names no other mxc', { timeout: 90_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  await initInPage(page, {
    homeserver: world.synapse.baseUrl,
    accessToken: world.users.alice.accessToken,
    userId: world.users.alice.userId,
    fallback: 'force',
  });
  const r = await page.evaluate(async ([mxc]) => {
    const { AuthMediaCore } = await import('/pkg/dist/authmedia_web.js');
    const proto = AuthMediaCore.prototype;
    const realHttpUrl = proto.httpUrl;
    const realThumbnailUrl = proto.thumbnailUrl;
    const realDownloadUrl = proto.downloadUrl;
    // What each call of the fast path passed as the mxc: its string, or undefined (its number).
    let passed = [];
    let coreObj = null;
    proto.thumbnailUrl = function (...args) {
      passed.push(args[0]);
      coreObj = this;
      return realThumbnailUrl.apply(this, args);
    };
    proto.downloadUrl = function (...args) {
      passed.push(args[0]);
      coreObj = this;
      return realDownloadUrl.apply(this, args);
    };
    const out = {};
    try {
      const m = window.media;
      const thumb = { thumbnail: { width: 96, height: 96, method: 'crop' } };
      m.httpUrl(mxc, thumb);
      out.first = [...passed];
      passed = [];
      const download = m.httpUrl(mxc);
      out.seen = { passed: [...passed], same: download === realHttpUrl.call(coreObj, mxc, undefined) };
      // Thumbnails of sizes the memo does not keep, each of a new mxc: the wasm parses and keeps
      // every one, and its table (4096 mxcs) starts over, while the memo still holds `mxc` and
      // its number. That number must name nothing now — the first mxc of the new table sits
      // where `mxc` sat.
      const big = { thumbnail: { width: 70000, height: 1 } };
      for (let i = 0; i < 4096; i++) m.httpUrl(`mxc://example.org/fill${i}`, big);
      passed = [];
      const named = m.httpUrl(mxc, { filename: 'z.png' });
      out.stale = { passed: [...passed], same: named === realHttpUrl.call(coreObj, mxc, { filename: 'z.png' }) };
      passed = [];
      const again = m.httpUrl(mxc, { thumbnail: { width: 48, height: 48 } });
      out.renumbered = { passed: [...passed], same: again === realHttpUrl.call(coreObj, mxc, { thumbnail: { width: 48, height: 48 } }) };
      // A number never crosses for another mxc: each fill mxc's URL is its own.
      const fill = m.httpUrl('mxc://example.org/fill4095', { thumbnail: { width: 20, height: 20 } });
      out.fill = fill.includes('/example.org/fill4095?');
    } finally {
      proto.thumbnailUrl = realThumbnailUrl;
      proto.downloadUrl = realDownloadUrl;
    }
    return out;
  }, [world.media.png64.mxc]);
  assert.deepEqual(r.first, [world.media.png64.mxc], 'an mxc not seen before goes as its string');
  assert.deepEqual(r.seen, { passed: [undefined], same: true }, 'an mxc seen before goes as its number');
  assert.deepEqual(r.stale, { passed: [undefined, world.media.png64.mxc], same: true }, 'a stale number is refused, then the string is passed');
  assert.deepEqual(r.renumbered, { passed: [undefined], same: true }, 'the new number is kept');
  assert.equal(r.fill, true);
});
