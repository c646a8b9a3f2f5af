/**
 * The load scenario (RELIABILITY.md, "Load"), shared by the e2e check (tests/e2e/load.test.mjs) and the figures
 * command (scripts/load.sh → tests/load-report.mjs): many concurrent media requests from a page
 * controlled by the drop-in service worker (sw/dist), against the real Synapse on loopback, with the
 * fault proxy (tests/lib/fault-proxy.mjs, no faults) between the worker and Synapse to count what the
 * worker sends upstream.
 *
 * API:
 *   makePng(width, height, seed) → Buffer         a valid RGB PNG, distinct for each seed
 *   startLoadRig({ world, images = 200, log }) → Promise<Rig>
 *     uploads `images` distinct PNGs (as alice), starts the proxy (→ Synapse), a static site serving
 *     tests/pages/worker/ with /dist/ = sw/dist/, launches Chromium, registers the worker and gives
 *     the tab alice's session with the proxy as homeserver.
 *   Rig:
 *     images: [{ mxc, width, height, bytes, sha256, download, thumbnail, thumbSha256 }]
 *             download/thumbnail are URLs on the proxy origin; thumbSha256 is what Synapse serves
 *             for the thumbnail (read directly, not through the proxy)
 *     planRequests({ requests = 1000, imgEvery = 0, seed = 1 }) → [{ url, kind, expect }]
 *             every distinct URL (one download + one 32×32 crop thumbnail per image) at least once,
 *             the rest repeats, in a seeded shuffled order; with imgEvery = k, every k-th request
 *             is an <img> element instead of a fetch()
 *     runPhase(name, plan) → Promise<Phase>      fires the whole plan at once from the page, waits
 *             for every request, then reads the worker's stats and what the proxy saw
 *     stopWorker()                                CDP ServiceWorker.stopAllWorkers (memory lost)
 *     relaunch(script?)                           a fresh browser whose tab registers `script` (default the
 *                                                 drop-in /dist/authmedia-sw.js) and gets the session
 *     workerHeap() → Promise<{usedSize, totalSize} | null>   the worker's JS heap via CDP, if reachable
 *     proxy, page, site, browser, consoleLines   (page/browser/consoleLines: the current browser)
 *   loadWorker({ budget }) → script URL            the drop-in worker with storeBudgetBytes = budget
 *                                                 (tests/pages/load-sw.js), for relaunch()
 *     close()
 *   Phase:
 *     { name, requests, distinct, succeeded, failures: [..first 10], wallMs, p50Ms, p95Ms, maxMs,
 *       reqPerSec, upstreamMedia (GETs of media paths the proxy saw), upstreamByUrl (Map url → n),
 *       duplicatesUpstream ([url, n] with n > 1), preflights, versions, needSessionMessages
 *       (authmedia:need-session messages the page got during the phase), needSessionAtMs (when each
 *       reached the page, ms after the first request), stats (authmedia:stats
 *       after the phase), heap }
 *
 * The page measures each request from just before fetch()/img.src to the end of its body (fetch)
 * or load (img); the wall time is from the first request to the last answer.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as mx from '../../support/matrix.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { startFaultProxy } from './fault-proxy.mjs';
import { launchChromium, collectConsole, stopServiceWorkers, cdp } from './browser.mjs';
import { mapLimit } from '../../support/procs.mjs';
import { encodeRgbPng } from './png.mjs';

const DIST = path.join(REPO_ROOT, 'sw', 'dist');
const PAGES = path.join(REPO_ROOT, 'tests', 'pages', 'worker');
const LOAD_PAGES = path.join(REPO_ROOT, 'tests', 'pages');
const DEFAULT_WORKER = '/dist/authmedia-sw.js';

/** The drop-in worker with another store budget (tests/pages/load-sw.js). */
export const loadWorker = ({ budget }) => `/load/load-sw.js?budget=${budget}`;
export const THUMB = { width: 32, height: 32, method: 'crop' };
const MEDIA_GET = /\/_matrix\/client\/v1\/media\/(download|thumbnail)\//;

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ----- PNG -----------------------------------------------------------------------------------------
/** A deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A valid 8-bit RGB PNG: a gradient tinted by the seed, with some noise (so bodies are a few KB
 * and every seed gives different bytes).
 */
export function makePng(width, height, seed) {
  const rand = prng(seed * 7919 + 17);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  const tint = [seed * 37, seed * 91, seed * 53].map((v) => v & 0xff);
  let o = 0;
  for (let y = 0; y < height; y++) {
    raw[o++] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const noise = rand() < 0.3 ? Math.floor(rand() * 64) : 0;
      raw[o++] = (tint[0] + x * 3 + noise) & 0xff;
      raw[o++] = (tint[1] + y * 3) & 0xff;
      raw[o++] = (tint[2] + ((x + y) >> 1) + noise) & 0xff;
    }
  }
  return encodeRgbPng(width, height, raw);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// ----- the page side (runs in the browser via page.evaluate) ----------------------------------------
/* global document, Image, performance, crypto, navigator */
async function firePlan(plan) {
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const one = async (req) => {
    const start = performance.now();
    try {
      if (req.kind === 'img') {
        const img = new Image();
        const loaded = await new Promise((resolve) => {
          img.onload = () => resolve(true);
          img.onerror = () => resolve(false);
          img.src = req.url;
        });
        const ms = performance.now() - start;
        return { ok: loaded, width: img.naturalWidth, height: img.naturalHeight, ms };
      }
      const res = await fetch(req.url);
      const buf = await res.arrayBuffer();
      const hash = hex(await crypto.subtle.digest('SHA-256', buf));
      const ms = performance.now() - start;
      return { ok: res.ok, status: res.status, type: res.headers.get('content-type'), size: buf.byteLength, hash, ms };
    } catch (error) {
      return { ok: false, error: String(error), ms: performance.now() - start };
    }
  };
  // When the worker's need-session questions reach the page (ms after the first request).
  const asked = [];
  const onMessage = (event) => {
    if (event.data && event.data.type === 'authmedia:need-session') asked.push(performance.now() - t0);
  };
  navigator.serviceWorker.addEventListener('message', onMessage);
  const t0 = performance.now();
  const results = await Promise.all(plan.map(one));
  navigator.serviceWorker.removeEventListener('message', onMessage);
  return { wallMs: performance.now() - t0, results, asked };
}

/**
 * @param {{world: any, images?: number, log?: (line: string) => void}} opts
 */
export async function startLoadRig({ world, images = 200, log = () => {} }) {
  const base = world.synapse.baseUrl;
  const alice = world.users.alice;
  const token = alice.accessToken;
  const cleanup = [];
  try {
    // Distinct images: sizes vary so an <img> can be checked by its natural size.
    let t0 = Date.now();
    const made = Array.from({ length: images }, (_, i) => {
      const width = 48 + (i % 32);
      const height = 40 + ((i * 7) % 24);
      const bytes = makePng(width, height, i + 1);
      return { width, height, bytes };
    });
    const uploaded = await mapLimit(made, 8, async (img, i) => {
      const mxc = await mx.upload(base, token, img.bytes, 'image/png', `load-${i}.png`);
      return { mxc, width: img.width, height: img.height, bytes: img.bytes.length, sha256: sha256(img.bytes) };
    });
    log(`uploaded ${images} PNGs in ${Date.now() - t0} ms`);

    // What Synapse serves for each thumbnail, read directly (not through the proxy or the worker).
    t0 = Date.now();
    await mapLimit(uploaded, 8, async (img) => {
      const res = await fetch(mx.mediaUrl(base, img.mxc, { kind: 'thumbnail', ...THUMB }), {
        headers: { Authorization: `Bearer ${token}` },
      });
      if (res.status !== 200) throw new Error(`thumbnail of ${img.mxc}: HTTP ${res.status}`);
      img.thumbSha256 = sha256(Buffer.from(await res.arrayBuffer()));
      img.thumbType = res.headers.get('content-type');
    });
    log(`read ${images} thumbnails directly in ${Date.now() - t0} ms`);

    const proxy = await startFaultProxy({ target: base });
    cleanup.push(() => proxy.close());
    for (const img of uploaded) {
      img.download = mx.mediaUrl(proxy.origin, img.mxc);
      img.thumbnail = mx.mediaUrl(proxy.origin, img.mxc, { kind: 'thumbnail', ...THUMB });
    }

    const site = await startStaticServer({ root: PAGES, mounts: { '/dist/': DIST, '/load/': LOAD_PAGES } });
    cleanup.push(() => site.close());

    /** A fresh browser whose tab is controlled by `script` and has alice's session (homeserver: the proxy). */
    const openBrowser = async (script) => {
      const browser = await launchChromium();
      try {
        const consoleLines = collectConsole(browser.page);
        await browser.page.goto(site.url('/index.html'));
        await browser.page.evaluate((src) => t.register(src), script);
        const answer = await browser.page.evaluate(
          (s) => t.setSession(s),
          { homeserver: proxy.origin, accessToken: token, userId: alice.userId },
        );
        if (!answer || answer.ok !== true) throw new Error(`session refused by the worker: ${JSON.stringify(answer)}`);
        return { browser, consoleLines };
      } catch (error) {
        await browser.close();
        throw error;
      }
    };
    let current = await openBrowser(DEFAULT_WORKER);
    cleanup.push(() => current.browser.close());

    const rig = {
      images: uploaded,
      proxy,
      site,
      get browser() {
        return current.browser;
      },
      get page() {
        return current.browser.page;
      },
      get consoleLines() {
        return current.consoleLines;
      },
      /** Closes the browser and opens a fresh one controlled by `script` (e.g. loadWorker({ budget })). */
      async relaunch(script = DEFAULT_WORKER) {
        await current.browser.close();
        current = await openBrowser(script);
      },
      planRequests({ requests = 1000, imgEvery = 0, seed = 1 } = {}) {
        const distinct = [];
        for (const img of uploaded) {
          distinct.push({ url: img.download, expect: { sha256: img.sha256, size: img.bytes, width: img.width, height: img.height } });
          distinct.push({ url: img.thumbnail, expect: { sha256: img.thumbSha256, width: THUMB.width, height: THUMB.height } });
        }
        if (requests < distinct.length) throw new Error(`${requests} requests cannot cover ${distinct.length} distinct URLs`);
        const plan = Array.from({ length: requests }, (_, i) => ({ ...distinct[i % distinct.length] }));
        const rand = prng(seed);
        for (let i = plan.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [plan[i], plan[j]] = [plan[j], plan[i]];
        }
        plan.forEach((req, i) => {
          req.kind = imgEvery > 0 && i % imgEvery === imgEvery - 1 ? 'img' : 'fetch';
        });
        return plan;
      },
      async runPhase(name, plan) {
        const page = current.browser.page;
        proxy.clear();
        const logBefore = await page.evaluate(() => t.state.log.length);
        const { wallMs, results, asked } = await page.evaluate(firePlan, plan.map(({ url, kind }) => ({ url, kind })));
        const stats = await page.evaluate(() => t.stats());
        const newMessages = await page.evaluate((from) => t.state.log.slice(from), logBefore);
        const failures = [];
        results.forEach((r, i) => {
          const req = plan[i];
          let why = null;
          if (!r.ok) why = r.error ?? `status ${r.status ?? '(img error)'}`;
          else if (req.kind === 'img') {
            if (r.width !== req.expect.width || r.height !== req.expect.height) why = `img ${r.width}×${r.height}, want ${req.expect.width}×${req.expect.height}`;
          } else if (r.hash !== req.expect.sha256) why = `sha256 ${r.hash} (${r.size} B, ${r.type}), want ${req.expect.sha256}`;
          if (why) failures.push({ url: req.url, kind: req.kind, why });
        });
        const upstreamByUrl = new Map();
        for (const r of proxy.requests) {
          if (r.method !== 'GET' || !MEDIA_GET.test(r.path)) continue;
          const url = proxy.origin + r.url;
          upstreamByUrl.set(url, (upstreamByUrl.get(url) ?? 0) + 1);
        }
        const ms = results.map((r) => r.ms).sort((a, b) => a - b);
        const phase = {
          name,
          requests: plan.length,
          fetches: plan.filter((r) => r.kind === 'fetch').length,
          imgs: plan.filter((r) => r.kind === 'img').length,
          distinct: new Set(plan.map((r) => r.url)).size,
          succeeded: plan.length - failures.length,
          failures: failures.slice(0, 10),
          failureCount: failures.length,
          wallMs,
          p50Ms: percentile(ms, 50),
          p95Ms: percentile(ms, 95),
          maxMs: ms[ms.length - 1] ?? 0,
          reqPerSec: plan.length / (wallMs / 1000),
          upstreamMedia: [...upstreamByUrl.values()].reduce((a, b) => a + b, 0),
          upstreamByUrl,
          duplicatesUpstream: [...upstreamByUrl].filter(([, n]) => n > 1),
          unexpectedUpstream: [...upstreamByUrl.keys()].filter((u) => !plan.some((r) => r.url === u)),
          preflights: proxy.count((r) => r.method === 'OPTIONS'),
          versions: proxy.count((r) => r.method === 'GET' && r.path === '/_matrix/client/versions'),
          otherUpstream: proxy.count((r) => r.method !== 'OPTIONS' && !MEDIA_GET.test(r.path) && r.path !== '/_matrix/client/versions'),
          needSessionMessages: newMessages.filter((m) => m.type === 'authmedia:need-session').length,
          needSessionAtMs: asked,
          stats,
          heap: await rig.workerHeap(),
        };
        return phase;
      },
      stopWorker: () => stopServiceWorkers(current.browser.page),
      /** The service worker's JS heap through CDP (Target.attachToTarget on its target), or null. */
      async workerHeap() {
        let session;
        try {
          session = await cdp(current.browser.page);
          const { targetInfos } = await session.send('Target.getTargets');
          const sw = targetInfos.find((ti) => ti.type === 'service_worker');
          if (!sw) return null;
          const { sessionId } = await session.send('Target.attachToTarget', { targetId: sw.targetId, flatten: false });
          const answer = new Promise((resolve) => {
            session.on('Target.receivedMessageFromTarget', (ev) => {
              if (ev.sessionId !== sessionId) return;
              const msg = JSON.parse(ev.message);
              if (msg.id === 1) resolve(msg.result ?? null);
            });
          });
          await session.send('Target.sendMessageToTarget', {
            sessionId,
            message: JSON.stringify({ id: 1, method: 'Runtime.getHeapUsage' }),
          });
          const result = await Promise.race([answer, new Promise((resolve) => setTimeout(() => resolve(null), 3000))]);
          await session.send('Target.detachFromTarget', { sessionId }).catch(() => {});
          return result;
        } catch {
          return null;
        } finally {
          await session?.detach().catch(() => {});
        }
      },
      async close() {
        for (const fn of cleanup.reverse()) await fn().catch(() => {});
      },
    };
    return rig;
  } catch (error) {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
    throw error;
  }
}

/** Byte count in MiB with one decimal (KiB below 1 MiB). */
const mib = (n) => {
  if (typeof n !== 'number') return 'n/a';
  return n < 1048576 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
};

/** A Markdown table of phases (the figures scripts/load.sh prints). */
export function formatPhases(phases) {
  const v = (x) => (x === undefined || x === null ? 'n/a' : String(x));
  const rows = [
    ['requests (fetch + img)', (p) => `${p.requests} (${p.fetches} + ${p.imgs})`],
    ['distinct URLs', (p) => p.distinct],
    ['succeeded (right bytes/size)', (p) => p.succeeded],
    ['upstream media GETs (proxy)', (p) => p.upstreamMedia],
    ['URLs fetched upstream > 1×', (p) => p.duplicatesUpstream.length],
    ['preflights / versions (proxy)', (p) => `${p.preflights} / ${p.versions}`],
    ['worker: upstream', (p) => v(p.stats.upstream)],
    ['worker: deduped', (p) => v(p.stats.deduped)],
    ['worker: cacheHits', (p) => v(p.stats.cacheHits)],
    ['worker: retries / timeouts', (p) => `${v(p.stats.retries)} / ${v(p.stats.timeouts)}`],
    ['worker: sessionAsks', (p) => v(p.stats.sessionAsks)],
    ['page: need-session messages (received at)', (p) => `${p.needSessionMessages}${p.needSessionAtMs.length ? ` (${p.needSessionAtMs.map((x) => `${x.toFixed(0)} ms`).join(', ')})` : ''}`],
    ['wall time', (p) => `${(p.wallMs / 1000).toFixed(2)} s`],
    ['latency p50 / p95 / max', (p) => `${p.p50Ms.toFixed(0)} / ${p.p95Ms.toFixed(0)} / ${p.maxMs.toFixed(0)} ms`],
    ['requests/s', (p) => p.reqPerSec.toFixed(0)],
    ['storeBytes / budget', (p) => `${mib(p.stats.storeBytes)} / ${mib(p.stats.storeBudgetBytes)}`],
    ['storeEntries', (p) => v(p.stats.storeEntries)],
    ['wasmMemoryBytes', (p) => mib(p.stats.wasmMemoryBytes)],
    ['worker JS heap used / total (CDP)', (p) => (p.heap ? `${mib(p.heap.usedSize)} / ${mib(p.heap.totalSize)}` : 'n/a')],
  ];
  const header = `| | ${phases.map((p) => p.name).join(' | ')} |\n|---|${phases.map(() => '---').join('|')}|`;
  return [header, ...rows.map(([label, f]) => `| ${label} | ${phases.map((p) => f(p)).join(' | ')} |`)].join('\n');
}
