// How many wasm↔JS crossings the authmedia worker makes per media request: the worker of a
// package (NPM, default npm/) is loaded through a wrapper script that counts every call of each
// glue import (wasm → JS) and of each wasm export (JS → wasm), then a gallery of N distinct 96×96
// thumbnails is loaded (after one warm-up image) and the counts are printed per request, most
// frequent first, each with the start of the import's glue source (the names are minified).
// The wrapper costs time: this counts, it does not time.
//   NPM=npm N=50 node bench/ab/crossings.mjs
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBenchWorld } from '../lib/world.mjs';
import { startSite, closeSite, openBrowser, evaluate } from '../lib/common.mjs';

const N = Number(process.env.N ?? 50);
const NPM = path.resolve(process.env.NPM ?? new URL('../../npm', import.meta.url).pathname);

const WRAPPER = String.raw`
const counts = new Map();
const labels = new Map();
const bump = (key) => counts.set(key, (counts.get(key) || 0) + 1);
function wrapImports(imports) {
  const out = {};
  for (const [mod, obj] of Object.entries(imports)) {
    out[mod] = {};
    for (const [name, f] of Object.entries(obj)) {
      if (typeof f !== 'function') { out[mod][name] = f; continue; }
      const key = 'js ' + name;
      labels.set(key, f.toString().replace(/\s+/g, ' ').slice(0, 110));
      out[mod][name] = function (...args) { bump(key); return f.apply(this, args); };
    }
  }
  return out;
}
function wrapExports(exports) {
  const out = {};
  for (const [name, x] of Object.entries(exports)) {
    if (typeof x !== 'function') { out[name] = x; continue; }
    const key = 'wasm ' + name;
    labels.set(key, name);
    out[name] = function (...args) { bump(key); return x.apply(this, args); };
  }
  return out;
}
const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async function (module, imports) {
  const got = await instantiate.call(WebAssembly, module, imports && wrapImports(imports));
  const instance = got instanceof WebAssembly.Instance ? got : got.instance;
  if (!(module instanceof WebAssembly.Module)) module = got.module;
  return { instance: { exports: wrapExports(instance.exports) }, module };
};
self.addEventListener('message', (e) => {
  if (!e.data || typeof e.data.type !== 'string' || !e.data.type.startsWith('count:')) return;
  if (e.data.type === 'count:reset') counts.clear();
  e.ports[0].postMessage([...counts].map(([k, n]) => [k, n, labels.get(k)]));
});
importScripts('/authmedia-sw.js');
`;

const world = await startBenchWorld({ nPre: 1, nPost: N + 1, warmExtra: 0, log: (m) => console.error(m) });
const site = await startSite({ npmDir: NPM });
writeFileSync(path.join(site.dir, 'count-sw.js'), WRAPPER);
const b = await openBrowser(site, world, { amOptions: { workerUrl: '/count-sw.js' } });
try {
  await evaluate(b, (s) => window.bench.setup(s), 'd');
  const ask = (type) => evaluate(b, (t) => new Promise((resolve) => {
    const c = new MessageChannel();
    c.port1.onmessage = (m) => resolve(m.data);
    navigator.serviceWorker.controller.postMessage({ type: t }, [c.port2]);
  }), type);
  // One image first: lazy paths (the first flight, the slots, the deadline timer) are not per request.
  const warm = await evaluate(b, ([s, m]) => window.bench.gallery(s, m), ['d', world.post.slice(N, N + 1)]);
  if (warm.ok !== 1) throw new Error('warm-up image failed');
  await ask('count:reset');
  const r = await evaluate(b, ([s, m]) => window.bench.gallery(s, m), ['d', world.post.slice(0, N)]);
  if (r.ok !== N) throw new Error(`only ${r.ok} of ${N} loaded`);
  const counts = (await ask('count:get')).sort((x, y) => y[1] - x[1]);
  const total = (dir) => counts.filter(([k]) => k.startsWith(dir)).reduce((s, [, n]) => s + n, 0);
  console.log(`${NPM}: ${N} images; per request: wasm→JS ${(total('js') / N).toFixed(1)}, JS→wasm ${(total('wasm') / N).toFixed(1)}, all ${((total('js') + total('wasm')) / N).toFixed(1)}`);
  for (const [k, n, label] of counts) console.log(`${(n / N).toFixed(2).padStart(6)}  ${k.padEnd(12)} ${label}`);
} finally {
  await b.close();
  await closeSite(site);
  await world.stop();
}
