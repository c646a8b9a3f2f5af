// When does the page call register(), and what does V8's lazy compilation of the page wasm's
// functions cost of it? A fresh browser profile per run, the page wasm instantiated before t0
// (as in the cold-start section of bench/compare.mjs), t0 just before `AuthMedia.init`; untraced.
// Paired rounds: Chromium as shipped (wasm functions compiled on their first call) against
// Chromium with `--js-flags=--no-wasm-lazy-compilation` (every function compiled up front at
// instantiation, before t0). Prints the medians and the paired difference.
//   ROUNDS=12 node bench/ab/register-lazy.mjs
import { startBenchWorld } from '../lib/world.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium } from '../../tests/lib/browser.mjs';
import { writeFileSync, mkdtempSync, copyFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const NPM = new URL('../../npm/', import.meta.url).pathname;
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const FLAGS = { lazy: [], eager: ['--js-flags=--no-wasm-lazy-compilation'] };
const world = await startBenchWorld({ nPre: 1, nPost: 1, warmExtra: 0, log: (m) => console.error(m) });
const dir = mkdtempSync(path.join(os.tmpdir(), 'reglazy-'));
writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><div id="root"></div>');
for (const f of readdirSync(path.join(NPM, 'sw'))) copyFileSync(path.join(NPM, 'sw', f), path.join(dir, f));
const site = await startStaticServer({ root: dir, mounts: { '/pkg/': NPM } });
const runs = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? ['eager', 'lazy'] : ['lazy', 'eager'];
  const r = {};
  for (const v of order) {
    const b = await launchChromium({ args: FLAGS[v] });
    try {
      await b.page.goto(site.url('/'));
      r[v] = await b.page.evaluate(async (cfg) => {
        const am = await import('/pkg/index.js');
        await am.initAsync();
        let registered = null;
        const register = ServiceWorkerContainer.prototype.register;
        ServiceWorkerContainer.prototype.register = function (...args) {
          registered ??= performance.now();
          return register.apply(this, args);
        };
        const t0 = performance.now();
        const media = await am.AuthMedia.init({ homeserver: cfg.hs, accessToken: cfg.token, userId: cfg.userId, workerUrl: '/authmedia-sw.js' });
        return { register: registered - t0, init: performance.now() - t0, mode: media.mode };
      }, { hs: world.baseUrl, token: world.token, userId: world.userId });
    } finally {
      await b.close();
    }
  }
  runs.push(r);
  console.error(`round ${round}: ${order.map((k) => `${k} register ${r[k].register.toFixed(1)} ms, init ${r[k].init.toFixed(0)} ms`).join(' | ')}`);
}
await site.close();
await world.stop();
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
const fixed = (x) => Number(x.toFixed(2));
console.log(JSON.stringify({
  rounds: ROUNDS,
  registerMs: { lazy: fixed(median(runs.map((r) => r.lazy.register))), eager: fixed(median(runs.map((r) => r.eager.register))) },
  lazyMinusEagerMs: fixed(median(runs.map((r) => r.lazy.register - r.eager.register))),
  initMs: { lazy: Math.round(median(runs.map((r) => r.lazy.init))), eager: Math.round(median(runs.map((r) => r.eager.init))) },
}));
