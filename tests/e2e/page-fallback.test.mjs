/**
 * Page SDK (npm package `matrix-authmedia`) in its fallback, in headless Chromium against the real
 * Synapse: no service worker serves the page, so media is fetched with the token into blob: URLs.
 *
 * - an insecure origin (plain http on a name mapped to 127.0.0.1: no service workers at all):
 *   `src()` gives a blob: URL that renders; `mount()` hydrates images (thumbnail sizes from the CSS box)
 *   and the ≥ 5 MB mp4 plays; blob types are made safe; errors carry codes on the elements;
 * - no token reaches another origin: media served by a "homeserver" that redirects to a CDN on another
 *   origin (recording servers) — the CDN never sees Authorization;
 * - the byte budget: more images than the budget → evictions, the object URLs still alive stay under the
 *   budget (a ledger of every URL.createObjectURL/revokeObjectURL call in the page, read in the same
 *   instant as stats(); every revoked URL assigned to an image really stops resolving), images in
 *   view never break;
 * - a video over the budget gets data-authmedia-state="too-large" and download() still saves it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, renderReport } from '../pages/page/site.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { readFileSync } from 'node:fs';

const INSECURE_HOST = 'authmedia.test';

let world;
let site;
let browser;
let consoleLines;

before(async () => {
  world = await loadWorld();
  site = await startPageSite();
  browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** The page on the insecure origin http://authmedia.test:PORT/ (not loopback by name: no workers). */
async function openInsecure(page = browser.page) {
  await page.goto(`http://${INSECURE_HOST}:${site.port}/`);
  await waitForPackage(page);
  const ctx = await page.evaluate(() => ({ secure: window.isSecureContext, sw: 'serviceWorker' in navigator }));
  assert.deepEqual(ctx, { secure: false, sw: false }, 'the test page must be an insecure context without service workers');
}

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

const logs = () => consoleLines.slice(-30).join('\n');

test('insecure origin: init picks the fallback, src() gives a blob: URL that renders', { timeout: 120_000 }, async () => {
  const page = browser.page;
  await openInsecure(page);
  const info = await initInPage(page, alice());
  assert.deepEqual(info, { mode: 'fallback', api: 'v1', reason: 'insecure_context' });
  const r = await page.evaluate(async (mxc) => {
    const url = await window.media.src(mxc);
    const img = document.createElement('img');
    img.src = url;
    document.getElementById('root').append(img);
    await img.decode();
    const blob = await (await fetch(url)).blob();
    return { url, w: img.naturalWidth, h: img.naturalHeight, type: blob.type, size: blob.size };
  }, world.media.png64.mxc);
  assert.match(r.url, /^blob:http:\/\/authmedia\.test:\d+\//);
  assert.equal(r.w, 64);
  assert.equal(r.h, 64);
  assert.equal(r.type, 'image/png');
  assert.equal(r.size, world.media.png64.bytes);
  const thumb = await page.evaluate(async (mxc) => {
    const url = await window.media.src(mxc, { thumbnail: { width: 320, height: 240, method: 'scale' } });
    const img = new Image();
    img.src = url;
    await img.decode();
    return { w: img.naturalWidth, h: img.naturalHeight };
  }, world.media.png800.mxc);
  assert.deepEqual(thumb, { w: 320, h: 240 });
  // Concurrent requests for one uncached media share one fetch.
  const shared = await page.evaluate(async (mxc) => {
    const urls = await Promise.all([1, 2, 3].map(() => window.media.src(mxc)));
    return { same: new Set(urls).size === 1, fetches: window.media.stats().fallback.fetches };
  }, world.media.gif.mxc);
  assert.deepEqual(shared, { same: true, fetches: 3 });
  const stats = await page.evaluate(() => window.media.stats());
  assert.equal(stats.worker, null);
  assert.equal(stats.fallback.fetches, 3);
  assert.equal(stats.byKind.download, 4);
  assert.equal(stats.byKind.thumbnail, 1);
  assert.deepEqual(stats.byMode, { worker: 0, fallback: 5, legacy: 0 });
});

test('insecure origin: mount() hydrates images (sizes from the box), video plays, errors are marked', { timeout: 180_000 }, async () => {
  const page = await browser.context.newPage();
  try {
    await openInsecure(page);
    await initInPage(page, alice());
    const m = world.media;
    await page.evaluate((m) => {
      const root = document.getElementById('root');
      root.className = 'col';
      root.innerHTML = `
        <img id="box" data-mxc="${m.png800.mxc}" style="width:160px;height:120px" alt="">
        <img id="attrs" data-mxc="${m.png800.mxc}" data-width="48" data-height="48" data-method="crop" alt="">
        <img id="full" data-mxc="${m.png64.mxc}" alt="">
        <img id="bad" data-mxc="mxc://../config" style="width:10px;height:10px" alt="">
        <img id="missing" data-mxc="mxc://${m.png64.serverName}/doesNotExist123" style="width:10px;height:10px" alt="">
        <video id="mp4" data-mxc="${m.mp4.mxc}" muted playsinline style="width:320px;height:180px"></video>
        <a id="file" data-mxc="${m.file.mxc}" data-filename="notes.txt" download>file</a>`;
      window.t0 = performance.now();
      window.unmount = window.media.mount(root);
    }, m);
    await page.waitForFunction(
      () => [...document.querySelectorAll('#root [data-mxc]')].every((el) => ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState)),
      null,
      { timeout: 90_000 },
    );
    const settledMs = Math.round(await page.evaluate(() => performance.now() - window.t0));
    const report = Object.fromEntries((await renderReport(page)).map((r) => [r.id, r]));
    // 160×120 CSS px at DPR 1 → the 320×240 scale preset.
    assert.equal(report.box.state, 'loaded', JSON.stringify(report.box));
    assert.ok(report.box.ok && report.box.src.startsWith('blob:'), JSON.stringify(report.box));
    assert.deepEqual([report.box.naturalWidth, report.box.naturalHeight], [320, 240]);
    // No box, data-width/height 48 crop → the 96×96 crop preset.
    assert.deepEqual([report.attrs.naturalWidth, report.attrs.naturalHeight], [96, 96], JSON.stringify(report.attrs));
    // No size at all → the original.
    assert.deepEqual([report.full.naturalWidth, report.full.naturalHeight], [64, 64]);
    assert.deepEqual([report.bad.state, report.bad.error], ['error', 'invalid_mxc']);
    assert.deepEqual([report.missing.state, report.missing.error], ['error', 'not_found']);
    assert.equal(report.file.state, 'loaded');
    // The ≥ 5 MB mp4 as a blob (default 64 MiB budget): metadata, then it plays.
    assert.equal(report.mp4.state, 'loaded', JSON.stringify(report.mp4));
    assert.equal(report.mp4.videoWidth, 854);
    const played = await page.evaluate(async () => {
      const v = document.getElementById('mp4');
      await v.play();
      const t0 = performance.now();
      while (v.currentTime < 0.5 && performance.now() - t0 < 20_000) await new Promise((r) => v.addEventListener('timeupdate', r, { once: true }));
      v.pause();
      return { t: v.currentTime, duration: v.duration, src: v.src.slice(0, 5) };
    });
    assert.ok(played.t >= 0.5, `video did not play: ${JSON.stringify(played)}`);
    assert.equal(played.src, 'blob:');
    assert.ok(Math.abs(played.duration - m.mp4.durationS) < 1, JSON.stringify(played));
    // Progress events were emitted for the large download, ending at its full size.
    const progress = await page.evaluate((mxc) => window.events.filter((e) => e.type === 'progress' && e.mxc === mxc), m.mp4.mxc);
    assert.ok(progress.length >= 3, `progress events: ${progress.length}`);
    assert.equal(progress.at(-1).loaded, m.mp4.bytes);
    console.log(`# fallback mount: 4 images + ${m.mp4.bytes} B mp4 as blobs settled in ${settledMs} ms; ${progress.length} progress events`);
    // Errors were reported as events with codes.
    const errors = await page.evaluate(() => window.events.filter((e) => e.type === 'error').map((e) => e.code));
    assert.ok(errors.includes('invalid_mxc') && errors.includes('not_found'), JSON.stringify(errors));
    // An element added later is hydrated too (MutationObserver).
    await page.evaluate((mxc) => {
      const img = document.createElement('img');
      img.id = 'late';
      img.dataset.mxc = mxc;
      document.getElementById('root').prepend(img);
    }, m.jpeg.mxc);
    await page.waitForFunction(() => document.getElementById('late').dataset.authmediaState === 'loaded', null, { timeout: 30_000 });
    const late = await page.evaluate(() => { const i = document.getElementById('late'); return [i.naturalWidth, i.naturalHeight]; });
    assert.deepEqual(late, [1024, 768]);
    // The same media again comes from the object-URL cache (no new fetch).
    const before = await page.evaluate(() => window.media.stats().fallback.fetches);
    const again = await page.evaluate((mxc) => window.media.src(mxc), m.png64.mxc);
    assert.equal(again, report.full.src);
    assert.equal(await page.evaluate(() => window.media.stats().fallback.fetches), before);
    // The a[download] saves the file with its name, fetched with the token.
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('#file')]);
    assert.equal(download.suggestedFilename(), 'notes.txt');
  } finally {
    await page.close();
  }
});

test('fallback blobs get a safe type: HTML and SVG become application/octet-stream', { timeout: 60_000 }, async () => {
  const token = world.users.alice.accessToken;
  const html = await mx.upload(world.synapse.baseUrl, token, Buffer.from('<script>parent.pwned=1</script>'), 'text/html', 'x.html');
  const svg = await mx.upload(world.synapse.baseUrl, token, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="parent.pwned=1"/>'), 'image/svg+xml', 'x.svg');
  const page = await browser.context.newPage();
  try {
    await openInsecure(page);
    await initInPage(page, alice());
    const types = await page.evaluate(async ([html, svg, png]) => {
      const out = {};
      for (const [k, mxc] of Object.entries({ html, svg, png })) {
        const url = await window.media.src(mxc);
        out[k] = (await (await fetch(url)).blob()).type;
      }
      return out;
    }, [html, svg, world.media.png64.mxc]);
    assert.deepEqual(types, { html: 'application/octet-stream', svg: 'application/octet-stream', png: 'image/png' });
  } finally {
    await page.close();
  }
});

test('fallback: no token reaches another origin (homeserver redirects media to a CDN origin)', { timeout: 90_000 }, async () => {
  const cdn = await startRecorder();
  const hs = await startRecorder();
  // The "homeserver": /versions proxied to Synapse, media redirected (307) to the CDN origin.
  hs.route('/_matrix/client/versions', async (req, res) => {
    const r = await fetch(`${world.synapse.baseUrl}/_matrix/client/versions`, { headers: { Authorization: req.headers.authorization ?? '' } });
    res.writeHead(r.status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' }).end(await r.text());
  });
  hs.redirect('/_matrix/client/v1/media/', (u) => cdn.url(`/cdn${u.pathname}${u.search}`), 307);
  const page = await browser.context.newPage();
  try {
    await openInsecure(page);
    const info = await initInPage(page, { ...alice(), homeserver: hs.origin });
    assert.equal(info.mode, 'fallback');
    await page.evaluate(() => {
      const root = document.getElementById('root');
      root.innerHTML = `
        <img id="a" data-mxc="mxc://authmedia.test/redirectedOne" alt="">
        <img id="b" data-mxc="mxc://elsewhere.example/redirectedTwo" style="width:100px;height:100px" alt="">`;
      window.media.mount(root);
    });
    await page.waitForFunction(() => [...document.querySelectorAll('#root img')].every((i) => i.dataset.authmediaState === 'loaded'), null, { timeout: 30_000 });
    const shown = await page.evaluate(() => [...document.querySelectorAll('#root img')].map((i) => i.naturalWidth));
    assert.deepEqual(shown, [1, 1], 'the CDN pixel was shown through the redirect');
    const cdnMedia = cdn.requests.filter((r) => r.path.startsWith('/cdn/_matrix/client/v1/media/'));
    assert.ok(cdnMedia.length >= 2, `the CDN saw ${cdnMedia.length} media requests`);
    assert.deepEqual(cdn.withAuthorization(), [], 'a token reached the CDN origin');
    // Sanity: the token did go to the homeserver (the check above could otherwise pass vacuously).
    assert.ok(hs.withAuthorization().some((r) => r.path.startsWith('/_matrix/client/v1/media/')), 'the homeserver got no token');
    assert.ok(
      hs.requests.filter((r) => r.method === 'GET').every((r) => !r.url.includes(world.users.alice.accessToken)),
      'token in a URL',
    );
  } finally {
    await page.close();
    await cdn.close();
    await hs.close();
  }
});

test('fallback budget: evictions happen, live object URLs stay under budget, images in view never break', { timeout: 240_000 }, async () => {
  const page = await browser.context.newPage();
  try {
    await page.setViewportSize({ width: 800, height: 600 });
    await openInsecure(page);
    // The ledger of the object URLs the page holds open: created and not yet revoked, with their
    // sizes. The SDK's glue looks URL.createObjectURL up at each call, so every URL it makes is
    // recorded; one it made and never revoked stays here (a leak) whether or not it was ever shown.
    await page.evaluate(() => {
      const { createObjectURL, revokeObjectURL } = URL;
      window.objectUrls = new Map();
      URL.createObjectURL = (blob) => {
        const u = createObjectURL.call(URL, blob);
        window.objectUrls.set(u, blob.size);
        return u;
      };
      URL.revokeObjectURL = (u) => {
        window.objectUrls.delete(u);
        return revokeObjectURL.call(URL, u);
      };
    });
    await initInPage(page, alice({ budgetBytes: 1 << 30 }));
    const N = 30;
    const sizes = Array.from({ length: N }, (_, i) => 100 + 3 * i);
    // Measure each thumbnail's size (distinct CSS boxes → distinct thumbnail URLs).
    const bytes = await page.evaluate(async ([mxc, sizes, token]) => {
      const out = [];
      for (const s of sizes) {
        const url = window.media.httpUrl(mxc, { thumbnail: { width: s, height: s, method: 'crop' } });
        const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
        out.push((await r.blob()).size);
      }
      return out;
    }, [world.media.jpeg.mxc, sizes, world.users.alice.accessToken]);
    const total = bytes.reduce((a, b) => a + b, 0);
    const budget = Math.ceil(total / 2);
    await initInPage(page, alice({ budgetBytes: budget }));
    await page.evaluate(([mxc, sizes]) => {
      const root = document.getElementById('root');
      root.className = 'col';
      root.innerHTML = sizes.map((s, i) => `<img id="i${i}" data-mxc="${mxc}" data-method="crop" style="width:${s}px;height:${s}px;margin-bottom:60px" alt="">`).join('');
      window.media.mount(root);
    }, [world.media.jpeg.mxc, sizes]);
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const checkView = async (y) => {
      await page.evaluate((y) => window.scrollTo(0, y), y);
      // Every image in the viewport gets shown (bounded wait), and stays decodable.
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#root img')]
            .filter((i) => { const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; })
            .every((i) => i.dataset.authmediaState === 'loaded' && i.complete && i.naturalWidth > 0),
        null,
        { timeout: 30_000 },
      );
      return page.evaluate(async () => {
        const inView = () => [...document.querySelectorAll('#root img')].filter((i) => { const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; });
        const visibleAlive = [];
        for (const i of inView()) {
          try {
            await (await fetch(i.src)).blob();
            visibleAlive.push(true);
          } catch {
            visibleAlive.push(false);
          }
        }
        // The ledger, stats() and the images in view, read in one synchronous step: loads near the
        // viewport (the observer's margin) may still be finishing, and one that lands between two
        // separate reads would change one side only.
        const live = [...window.objectUrls.values()];
        const visible = inView();
        return {
          stats: window.media.stats().fallback,
          liveCount: live.length,
          liveBytes: live.reduce((a, b) => a + b, 0),
          visible: visible.length,
          visibleAlive,
          visibleLive: visible.every((i) => window.objectUrls.has(i.src)),
        };
      });
    };
    const steps = [];
    for (let y = 0; y < height; y += 450) steps.push(await checkView(y));
    steps.push(await checkView(0)); // back to the top: evicted images come back
    for (const s of steps) {
      assert.ok(s.liveBytes <= budget, `live object URLs hold ${s.liveBytes} bytes > budget ${budget}`);
      assert.equal(s.liveCount, s.stats.objectUrls, 'stats disagree with the object URLs the page holds open');
      assert.equal(s.liveBytes, s.stats.bytes, 'stats disagree with the bytes of the open object URLs');
      assert.ok(s.visible > 0 && s.visibleLive && s.visibleAlive.every(Boolean), `an image in view lost its URL: ${JSON.stringify(s)}`);
    }
    // Revoked means gone for the browser too: every blob: URL ever shown that the ledger says was
    // revoked stops resolving. Chromium applies revokeObjectURL asynchronously (its blob registry
    // lives in another process) and a revoked URL never comes back, so this converges; bounded wait.
    const stillResolving = await page.evaluate(async () => {
      let left = [...window.assignedUrls].filter((u) => !window.objectUrls.has(u));
      for (const t0 = performance.now(); left.length && performance.now() - t0 < 5000; ) {
        const next = [];
        for (const u of left) {
          try {
            await (await fetch(u)).blob();
            next.push(u);
          } catch {
            // revoked
          }
        }
        left = next;
        if (left.length) await new Promise((r) => requestAnimationFrame(r));
      }
      return left.length;
    });
    assert.equal(stillResolving, 0, 'a blob: URL revoked by the SDK still resolves');
    const last = steps.at(-1).stats;
    assert.ok(last.evictions > 0, `no evictions: ${JSON.stringify(last)}`);
    assert.ok(last.pinned > 0 && last.pinned <= steps.at(-1).visible + 4, `pins: ${JSON.stringify(last)}`);
    // Removing the elements releases their pins (the MutationObserver untracks them).
    await page.evaluate(() => document.getElementById('root').replaceChildren());
    await page.waitForFunction(() => window.media.stats().fallback.pinned === 0, null, { timeout: 10_000 });
    // dispose() revokes every object URL the instance made, at once: none is left open.
    const afterDispose = await page.evaluate(() => {
      window.media.dispose();
      return window.objectUrls.size;
    });
    assert.equal(afterDispose, 0, 'object URLs left open after dispose()');
    console.log(`# budget ${budget} B of ${total} B over ${N} thumbnails: ${last.evictions} evictions, ${last.fetches} fetches, max live ${Math.max(...steps.map((s) => s.liveBytes))} B`);
  } finally {
    await page.close();
  }
});

test('fallback: video over the budget is marked too-large and download() still saves it', { timeout: 120_000 }, async () => {
  const page = await browser.context.newPage();
  try {
    await openInsecure(page);
    await initInPage(page, alice({ budgetBytes: 1024 * 1024 }));
    await page.evaluate((mxc) => {
      const root = document.getElementById('root');
      root.innerHTML = `<video id="v" data-mxc="${mxc}" muted style="width:320px;height:180px"></video>`;
      window.media.mount(root);
    }, world.media.mp4.mxc);
    await page.waitForFunction(() => document.getElementById('v').dataset.authmediaState === 'too-large', null, { timeout: 30_000 });
    const v = await page.evaluate(() => ({ src: document.getElementById('v').getAttribute('src'), error: document.getElementById('v').dataset.authmediaError, live: window.media.stats().fallback.bytes }));
    assert.deepEqual(v, { src: null, error: 'over_budget', live: 0 });
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      page.evaluate((mxc) => window.media.download(mxc, 'clip.mp4'), world.media.mp4.mxc),
    ]);
    assert.equal(download.suggestedFilename(), 'clip.mp4');
    const path = await download.path();
    const { statSync } = await import('node:fs');
    assert.equal(statSync(path).size, world.media.mp4.bytes);
  } finally {
    await page.close();
  }
});

test('fallback: a 401 M_UNKNOWN_TOKEN calls onTokenRefresh once for concurrent requests, then retries', { timeout: 90_000 }, async () => {
  const base = world.synapse.baseUrl;
  const t1 = await mx.login(base, 'alice', world.users.alice.password);
  const t2 = await mx.login(base, 'alice', world.users.alice.password);
  const page = await browser.context.newPage();
  try {
    await openInsecure(page);
    await page.evaluate(async ([opts, t2]) => {
      window.refreshCalls = 0;
      window.media = await window.am.AuthMedia.init({
        ...opts,
        onTokenRefresh: async () => {
          window.refreshCalls += 1;
          return t2;
        },
      });
    }, [{ ...alice(), accessToken: t1.accessToken }, t2.accessToken]);
    await mx.logout(base, t1.accessToken); // the server forgets t1: the next requests get 401 M_UNKNOWN_TOKEN
    const out = await page.evaluate(async (mxcs) => {
      const sizes = await Promise.all(
        mxcs.map(async (mxc) => {
          const img = new Image();
          img.src = await window.media.src(mxc, { thumbnail: { width: 32, height: 32, method: 'crop' } });
          await img.decode();
          return img.naturalWidth;
        }),
      );
      return { sizes, calls: window.refreshCalls };
    }, [world.media.png800.mxc, world.media.jpeg.mxc, world.media.png1600.mxc]);
    assert.deepEqual(out, { sizes: [32, 32, 32], calls: 1 });
    // When the refreshed token is dead too: a coded error after one refresh and one retry.
    await mx.logout(base, t2.accessToken);
    const code = await page.evaluate(async (mxc) => {
      try {
        await window.media.src(mxc);
        return null;
      } catch (e) {
        return [e.code, e.errcode, e instanceof window.am.AuthMediaError];
      }
    }, world.media.bobPng.mxc);
    assert.deepEqual(code, ['unauthorized', 'M_UNKNOWN_TOKEN', true]);
  } finally {
    await page.close();
  }
});

test('secure origin, worker script missing: registration_failed → fallback; fallback "never" rejects', { timeout: 60_000 }, async () => {
  const page = await browser.context.newPage();
  try {
    // Loopback by IP: a secure context with service workers, but no worker file at this URL.
    await page.goto(site.url('/'));
    await waitForPackage(page);
    const info = await page.evaluate(async (opts) => {
      const media = await window.am.AuthMedia.init({ ...opts, workerUrl: '/no-such-worker.js' });
      const url = await media.src(opts.mxc);
      let never = null;
      try {
        await window.am.AuthMedia.init({ ...opts, workerUrl: '/no-such-worker.js', fallback: 'never' });
      } catch (e) {
        never = e.code;
      }
      return { mode: media.mode, reason: media.fallbackReason, blob: url.startsWith('blob:'), never };
    }, { ...alice(), mxc: world.media.png64.mxc });
    assert.deepEqual(info, { mode: 'fallback', reason: 'registration_failed', blob: true, never: 'no_worker' });
  } finally {
    await page.close();
  }
});

test('secure origin, a worker slow to install: init settles on the fallback after workerReadyTimeoutMs, media shows, then the worker takes over', { timeout: 90_000 }, async () => {
  // The worker's install compiles its wasm; this site holds the wasm until the test lets it go.
  let release;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  let wasmAsked = false;
  const slow = await startPageSite({
    routes: async (_req, _res, url) => {
      if (url.pathname === '/authmedia_sw_bg.wasm') {
        wasmAsked = true;
        await released;
      }
      return false; // then served from the site's files
    },
  });
  const page = await browser.context.newPage();
  try {
    await page.goto(slow.url('/'));
    await waitForPackage(page);
    const started = Date.now();
    const info = await initInPage(page, alice({ workerReadyTimeoutMs: 1500 }));
    const initMs = Date.now() - started;
    assert.deepEqual(info, { mode: 'fallback', api: info.api, reason: 'worker_not_ready' });
    assert.ok(wasmAsked, 'the worker was installing (its wasm was requested) while init waited');
    assert.ok(initMs >= 1400 && initMs < 10_000, `init settled after the ready timeout: ${initMs} ms`);
    // Meanwhile media shows through the fallback.
    const shown = await page.evaluate(async (mxc) => {
      const url = await window.media.src(mxc);
      const img = new Image();
      img.src = url;
      await img.decode();
      return { blob: url.startsWith('blob:'), width: img.naturalWidth };
    }, world.media.png64.mxc);
    assert.deepEqual(shown, { blob: true, width: world.media.png64.width });
    // The worker finishes installing, claims the page, and the SDK switches to it.
    release();
    await page.waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller !== null, null, { timeout: 30_000 }).catch((e) => {
      throw new Error(`${e.message}\n${logs()}`);
    });
    const after = await page.evaluate(async (mxc) => {
      const url = await window.media.src(mxc);
      const res = await fetch(url);
      return { url, status: res.status, changes: window.events.filter((e) => e.type === 'modechange').map((e) => e.mode) };
    }, world.media.png64.mxc);
    assert.ok(after.url.startsWith(`${world.synapse.baseUrl}/_matrix/client/v1/media/`), after.url);
    assert.equal(after.status, 200, 'served by the worker with the token');
    assert.deepEqual(after.changes, ['worker']);
  } finally {
    release();
    await page.close();
    await slow.close();
  }
});

test('insecure origin: encrypted attachments are verified and decrypted in wasm (no crypto.subtle); a flipped byte → hash_mismatch', { timeout: 90_000 }, async () => {
  const plain = readFileSync(world.media.png64.path);
  const file = await uploadEncrypted(world, 'insecure-origin.png', plain);
  const flipped = await uploadEncrypted(world, 'insecure-origin-flipped.png', plain, (c) => {
    c[c.length >> 1] ^= 1;
    return c;
  });
  const page = browser.page;
  await openInsecure(page);
  const info = await initInPage(page, alice());
  assert.equal(info.mode, 'fallback');
  const r = await page.evaluate(async ({ file, flipped }) => {
    const url = await window.media.srcEncrypted(file, { mimetype: 'image/png' });
    const img = new Image();
    img.src = url;
    await img.decode();
    const bad = await window.media.srcEncrypted(flipped, { mimetype: 'image/png' }).then(() => null, (e) => e.code);
    const s = window.media.stats().fallback;
    return { subtle: Boolean(window.crypto && window.crypto.subtle), blob: url.startsWith('blob:'), w: img.naturalWidth, bad, webCrypto: s.decryptedWebCrypto, wasm: s.decryptedWasm };
  }, { file, flipped });
  assert.deepEqual(r, { subtle: false, blob: true, w: world.media.png64.width, bad: 'hash_mismatch', webCrypto: 0, wasm: 1 });
  await page.evaluate(() => window.media.logout());
});

test('insecure origin: the software crypto wasm is fetched on the first attachment only; when it cannot load, srcEncrypted fails with wasm_load_failed before any download, and the next call loads it', { timeout: 90_000 }, async () => {
  const plain = readFileSync(world.media.png64.path);
  const first = await uploadEncrypted(world, 'crypto-on-demand-1.png', plain);
  const second = await uploadEncrypted(world, 'crypto-on-demand-2.png', plain);
  const page = await browser.context.newPage();
  const cryptoFetches = [];
  const downloads = [];
  page.on('request', (req) => {
    const url = req.url();
    if (url.includes('authmedia_crypto')) cryptoFetches.push(url);
    if (url.includes('/media/download/')) downloads.push(url);
  });
  try {
    await openInsecure(page);
    const info = await initInPage(page, alice());
    assert.equal(info.mode, 'fallback');
    // Plain media needs no crypto: the module is not fetched.
    const plainSrc = await page.evaluate((mxc) => window.media.src(mxc), world.media.png64.mxc);
    assert.ok(plainSrc.startsWith('blob:'));
    assert.deepEqual(cryptoFetches, [], 'nothing of the crypto module is fetched before an attachment needs it');

    // The module cannot be fetched: a clear error, and the ciphertext is not downloaded.
    await page.route('**/authmedia_crypto*', (route) => route.abort());
    const failed = await page.evaluate((file) => window.media.srcEncrypted(file, { mimetype: 'image/png' }).then(
      () => null,
      (e) => ({ code: e.code, reason: e.reason, mentions: /authmedia_crypto_bg\.wasm/.test(e.message) && /crypto\.subtle/.test(e.message) }),
    ), first);
    assert.deepEqual(failed, { code: 'wasm_load_failed', reason: 'crypto_unavailable', mentions: true });
    const mediaId = (mxc) => mxc.split('/').pop();
    assert.ok(!downloads.some((u) => u.includes(mediaId(first.url))), `no download without a decryptor: ${downloads.join(', ')}`);

    // Reachable again: the next call loads it, once for both files.
    await page.unroute('**/authmedia_crypto*');
    cryptoFetches.length = 0;
    const r = await page.evaluate(async ({ first, second }) => {
      const widths = [];
      for (const file of [first, second]) {
        const img = new Image();
        img.src = await window.media.srcEncrypted(file, { mimetype: 'image/png' });
        await img.decode();
        widths.push(img.naturalWidth);
      }
      return { widths, wasm: window.media.stats().fallback.decryptedWasm };
    }, { first, second });
    assert.deepEqual(r, { widths: [world.media.png64.width, world.media.png64.width], wasm: 2 });
    assert.equal(cryptoFetches.filter((u) => u.endsWith('.wasm')).length, 1, cryptoFetches.join(', '));
    await page.evaluate(() => window.media.logout());
  } finally {
    await page.close();
  }
});
