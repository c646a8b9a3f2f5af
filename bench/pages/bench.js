// Page side of bench/run.mjs. Everything is driven from Node through page.evaluate; this module
// only provides the measured operations on window.bench.
const root = document.getElementById('root');
const thumbOpts = { thumbnail: { width: 96, height: 96, method: 'crop' } };
let config = null; // { homeserver, token, userId }
let media = null; // AuthMedia instance
let am = null; // the npm package

// Pages answer the benchmark workers' "what is the token?" question (alternatives (b) and (c)).
navigator.serviceWorker?.addEventListener('message', (e) => {
  if (e.data && e.data.type === 'bench:config?' && e.ports[0]) {
    e.ports[0].postMessage({ token: config?.token ?? null, homeserver: config?.homeserver ?? null });
  }
});
navigator.serviceWorker?.startMessages();

// Cold-start breakdown (bench/compare.mjs): a User Timing mark when anything on this page (the
// library included) calls register() and when a worker takes control. Marks appear in a CDP trace
// on the same clock as the browser's service-worker events.
if (globalThis.ServiceWorkerContainer) {
  const register = ServiceWorkerContainer.prototype.register;
  ServiceWorkerContainer.prototype.register = function (...args) {
    performance.mark('bench:register');
    return register.apply(this, args);
  };
  navigator.serviceWorker.addEventListener('controllerchange', () => performance.mark('bench:controllerchange'));
}

const v1Thumb = (hs, mxc) => {
  const [server, id] = mxc.slice(6).split('/');
  return `${hs}/_matrix/client/v1/media/thumbnail/${server}/${id}?width=96&height=96&method=crop`;
};
const legacyThumb = (hs, mxc) => {
  const [server, id] = mxc.slice(6).split('/');
  return `${hs}/_matrix/media/v3/thumbnail/${server}/${id}?width=96&height=96&method=crop`;
};

function loaded(el, event = 'load') {
  return new Promise((resolve) => {
    el.addEventListener(event, () => resolve(true), { once: true });
    el.addEventListener('error', () => resolve(false), { once: true });
  });
}

function waitFor(cond, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const tick = () => {
      if (cond()) return resolve();
      if (performance.now() - t0 > timeoutMs) return reject(new Error(`timed out: ${cond}`));
      setTimeout(tick, 2);
    };
    tick();
  });
}

async function controlled() {
  if (navigator.serviceWorker.controller) return;
  await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
}

async function postToken(worker) {
  const channel = new MessageChannel();
  const ack = new Promise((r) => { channel.port1.onmessage = (m) => r(m.data); });
  worker.postMessage({ type: 'bench:token', token: config.token, homeserver: config.homeserver }, [channel.port2]);
  return ack;
}

/**
 * The floor of any blob-URL fallback, for comparison with the library's ('f'): fetch with the
 * header, `blob()`, an object URL for the image; at most 6 fetches at once, as the library's
 * fallback (no budget, no deadlines, no revocation, no retries).
 */
async function minimalFallback(imgs, mxcs) {
  let next = 0;
  const lane = async () => {
    while (next < mxcs.length) {
      const i = next++;
      try {
        const r = await fetch(v1Thumb(config.homeserver, mxcs[i]), { headers: { Authorization: `Bearer ${config.token}` } });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        imgs[i].src = URL.createObjectURL(await r.blob());
      } catch {
        imgs[i].dispatchEvent(new Event('error'));
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, lane));
}

async function loadAm() {
  am ??= await import('/pkg/index.js');
  await am.initAsync();
}

window.bench = {
  setConfig(c) { config = c; },

  /**
   * Set up a variant: 'a' none, 'b' token worker, 'c' asking worker, 'd' authmedia worker,
   * 'e' authmedia fallback, 'f' the hand-written blob-URL fallback above (nothing to set up),
   * 'g' the token worker doing the authmedia worker's browser-side work per request (sw-full.js).
   */
  async setup(variant) {
    if (variant === 'b' || variant === 'c' || variant === 'g') {
      const reg = await navigator.serviceWorker.register({ b: '/sw-token.js', c: '/sw-ask.js', g: '/sw-full.js' }[variant]);
      await controlled();
      if (variant !== 'c') await postToken(reg.active ?? navigator.serviceWorker.controller);
    } else if (variant === 'd' || variant === 'e') {
      await loadAm();
      media = await am.AuthMedia.init({
        homeserver: config.homeserver, accessToken: config.token, userId: config.userId,
        // The library's own User Timing marks (page and worker) become rows of the breakdown.
        workerUrl: variant === 'd' ? '/authmedia-sw.js?performanceMarks' : null,
        performanceMarks: true,
        ...(config.amOptions ?? {}),
      });
      if (variant === 'd') await waitFor(() => media.mode === 'worker' && navigator.serviceWorker.controller);
    }
    return { mode: media?.mode ?? null, controlled: !!navigator.serviceWorker.controller };
  },

  /** Insert 96×96 crop thumbnails of `mxcs`; ms from insertion until every image loaded (or failed). */
  async gallery(variant, mxcs) {
    root.replaceChildren();
    performance.mark('bench:gallery-start');
    const t0 = performance.now();
    const imgs = mxcs.map(() => document.createElement('img'));
    const done = Promise.all(imgs.map((img) => loaded(img)));
    root.append(...imgs);
    if (variant === 'a') imgs.forEach((img, i) => { img.src = legacyThumb(config.homeserver, mxcs[i]); });
    else if (variant === 'b' || variant === 'c' || variant === 'g') imgs.forEach((img, i) => { img.src = v1Thumb(config.homeserver, mxcs[i]); });
    else if (variant === 'f') minimalFallback(imgs, mxcs);
    else imgs.forEach((img, i) => media.src(mxcs[i], thumbOpts).then((u) => { img.src = u; }, () => img.dispatchEvent(new Event('error'))));
    const ok = await done;
    const ms = performance.now() - t0;
    performance.mark('bench:gallery-end');
    const sizes = imgs.filter((i) => i.naturalWidth === 96 && i.naturalHeight === 96).length;
    return { ms, ok: ok.filter(Boolean).length, right96: sizes };
  },

  /** Cold start: registration → first authenticated image (one image), for 'b', 'c' or 'd'. */
  async coldStart(variant, mxc) {
    root.replaceChildren();
    performance.mark('bench:t0');
    const t0 = performance.now();
    await this.setup(variant);
    performance.mark('bench:ready');
    const tReady = performance.now();
    const img = document.createElement('img');
    const done = loaded(img);
    root.append(img);
    img.src = variant === 'd' ? await media.src(mxc, thumbOpts) : v1Thumb(config.homeserver, mxc);
    performance.mark('bench:src');
    const ok = await done;
    performance.mark('bench:image');
    const t1 = performance.now();
    // For (d): the page's own authenticated /versions request inside AuthMedia.init.
    const versions = performance.getEntriesByType('resource').filter((e) => e.name.includes('/_matrix/client/versions') && e.startTime >= t0);
    const versionsMs = versions.length ? versions[versions.length - 1].responseEnd - versions[0].startTime : null;
    return { ms: t1 - t0, readyMs: tReady - t0, versionsMs, ok: ok && img.naturalWidth === 96 };
  },

  /** After a worker restart (done from Node over CDP): one new image, ms until loaded. */
  async afterRestart(variant, mxc) {
    const t0 = performance.now();
    const img = document.createElement('img');
    const done = loaded(img);
    root.append(img);
    img.src = variant === 'd' ? await media.src(mxc, thumbOpts) : v1Thumb(config.homeserver, mxc);
    const ok = await done;
    return { ms: performance.now() - t0, ok: ok && img.naturalWidth === 96 };
  },

  /** fetch (no-store) + WebAssembly.compileStreaming of each wasm, `n` times; ms per try. */
  async wasmCompile(urls, n) {
    const out = {};
    for (const url of urls) {
      out[url] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await WebAssembly.compileStreaming(fetch(url, { cache: 'no-store' }));
        out[url].push(performance.now() - t0);
      }
    }
    return out;
  },

  /** Worker counters (authmedia only). */
  async stats() { return media ? media.refreshStats() : null; },

  /** Core speed in this page: authmedia (wasm) httpUrl vs matrix-js-sdk getHttpUriForMxc. */
  async coreSpeed(mxcs, iterations) {
    await loadAm();
    const { getHttpUriForMxc } = await import('/js-sdk/content-repo.js');
    const hs = config.homeserver;
    const cases = {
      'authmedia httpUrl (wasm), thumbnail': (m) => media.httpUrl(m, thumbOpts),
      'js-sdk getHttpUriForMxc, thumbnail': (m) => getHttpUriForMxc(hs, m, 96, 96, 'crop', false, true, true),
      'authmedia httpUrl (wasm), download': (m) => media.httpUrl(m),
      'js-sdk getHttpUriForMxc, download': (m) => getHttpUriForMxc(hs, m, undefined, undefined, undefined, false, true, true),
      // Never the same request twice (a new width each call): what a first call costs, whatever
      // the SDK remembers of earlier ones.
      'authmedia httpUrl (wasm), thumbnail, each call new': (m, i) => media.httpUrl(m, { thumbnail: { width: 1 + i + pass * iterations, height: 96, method: 'crop' } }),
      'authmedia httpUrl (wasm), download, each call new': (m, i) => media.httpUrl(m, { filename: `f${i + pass * iterations}` }),
    };
    // The first call of each case (no warm-up: what a page pays once), then the interleaved passes.
    let pass = 7; // the samples: requests no pass makes
    const firstCallUs = {};
    const sample = {};
    for (const [k, f] of Object.entries(cases)) {
      const t0 = performance.now();
      sample[k] = f(mxcs[0], 0);
      firstCallUs[k] = (performance.now() - t0) * 1000;
    }
    const out = {};
    // Interleaved: 7 passes of every case, median ns/call per case.
    const runs = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    for (pass = 0; pass < 7; pass++) {
      for (const [k, f] of Object.entries(cases)) {
        let sink = 0;
        const t0 = performance.now();
        for (let i = 0; i < iterations; i++) sink += f(mxcs[i % mxcs.length], i).length;
        const t1 = performance.now();
        if (sink === 0) throw new Error('empty URLs');
        runs[k].push(((t1 - t0) * 1e6) / iterations);
      }
    }
    for (const [k, v] of Object.entries(runs)) {
      v.sort((x, y) => x - y);
      out[k] = v[Math.floor(v.length / 2)];
    }
    return { nsPerCall: out, firstCallUs, sample };
  },

  /** Fallback memory: all of `mxcs` (downloads) through the fallback; samples heap and counters. */
  async fallbackMemory(mxcs) {
    root.replaceChildren();
    let peakHeap = performance.memory ? performance.memory.usedJSHeapSize : 0;
    let peakUrls = 0;
    let peakBytes = 0;
    const sample = () => {
      const s = media.stats().fallback;
      peakUrls = Math.max(peakUrls, s.objectUrls);
      peakBytes = Math.max(peakBytes, s.bytes);
      if (performance.memory) peakHeap = Math.max(peakHeap, performance.memory.usedJSHeapSize);
    };
    const timer = setInterval(sample, 20);
    const t0 = performance.now();
    const imgs = mxcs.map(() => document.createElement('img'));
    const done = Promise.all(imgs.map((img) => loaded(img)));
    root.append(...imgs);
    let srcErrors = 0;
    imgs.forEach((img, i) => media.src(mxcs[i]).then((u) => { img.src = u; }, () => { srcErrors++; img.dispatchEvent(new Event('error')); }));
    const ok = await done;
    const ms = performance.now() - t0;
    sample();
    clearInterval(timer);
    return { ms, ok: ok.filter(Boolean).length, srcErrors, peakHeap, peakUrls, peakBytes, end: media.stats().fallback };
  },

  /** Video: load `url` (or media.src(mxc) when authmedia), wait for canplay, seek to the middle. */
  async videoSeek(variant, mxc) {
    root.replaceChildren();
    const v = document.createElement('video');
    v.muted = true;
    v.preload = 'auto';
    root.append(v);
    const t0 = performance.now();
    const meta = loaded(v, 'canplay');
    if (variant === 'a') {
      const [server, id] = mxc.slice(6).split('/');
      v.src = `${config.homeserver}/_matrix/media/v3/download/${server}/${id}`;
    } else {
      v.src = await media.src(mxc);
    }
    if (!(await meta)) return { ok: false, error: v.error && v.error.message };
    const canplayMs = performance.now() - t0;
    const target = v.duration / 2;
    const seeked = loaded(v, 'seeked');
    const t1 = performance.now();
    v.currentTime = target;
    const ok = await seeked;
    const seekMs = performance.now() - t1;
    // A second seek (to 3/4), once the first one is done: for the worker, the body is in its store now.
    const seeked2 = loaded(v, 'seeked');
    const t2 = performance.now();
    v.currentTime = (v.duration * 3) / 4;
    const ok2 = await seeked2;
    const seek2Ms = performance.now() - t2;
    return { ok: ok && ok2, canplayMs, seekMs, seek2Ms, duration: v.duration, currentTime: v.currentTime };
  },
};
window.benchReady = true;
