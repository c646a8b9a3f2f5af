// Paired A/B of two builds of the worker's cold start (the same page package): a fresh browser
// profile per run, `AuthMedia.init` → worker mode → first authenticated 96×96 thumbnail. Each
// worker build is served by a static server of its own (its own origin: a worker controls only
// its own scope), the page package from `npm/` (or PKG) on both.
//   SW_A=/copy/of/old/npm/sw SW_B=/copy/of/new/npm/sw ROUNDS=12 node bench/ab/cold-sw-ab.mjs
import { startBenchWorld } from '../lib/world.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium } from '../../tests/lib/browser.mjs';
import { writeFileSync, mkdtempSync, copyFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const need = (name) => {
  if (!process.env[name]) throw new Error(`${name}: a directory holding a built worker (authmedia-sw.js and its wasm)`);
  return process.env[name];
};
const PKG = process.env.PKG ?? new URL('../../npm/', import.meta.url).pathname;
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const world = await startBenchWorld({ nPre: 1, nPost: ROUNDS * 2 + 2, warmExtra: 0, log: (m) => console.error(m) });
const sites = {};
for (const [v, env] of [['a', 'SW_A'], ['b', 'SW_B']]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `csab-${v}-`));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><div id="root"></div>');
  for (const f of readdirSync(need(env))) copyFileSync(path.join(need(env), f), path.join(dir, f));
  sites[v] = await startStaticServer({ root: dir, mounts: { '/pkg/': PKG } });
}
const runs = [];
let n = 0;
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? ['b', 'a'] : ['a', 'b'];
  const r = {};
  for (const v of order) {
    const b = await launchChromium();
    try {
      await b.page.goto(sites[v].url('/'));
      r[v] = await b.page.evaluate(async ([cfg, mxc]) => {
        const am = await import('/pkg/index.js');
        await am.initAsync();
        const t0 = performance.now();
        const media = await am.AuthMedia.init({ homeserver: cfg.hs, accessToken: cfg.token, userId: cfg.userId, workerUrl: '/authmedia-sw.js' });
        const tInit = performance.now();
        const img = new Image();
        img.src = await media.src(mxc, { thumbnail: { width: 96, height: 96, method: 'crop' } });
        await img.decode();
        return { ms: performance.now() - t0, init: tInit - t0, mode: media.mode, ok: img.naturalWidth === 96 };
      }, [{ hs: world.baseUrl, token: world.token, userId: world.userId }, world.post[n++]]);
    } finally {
      await b.close();
    }
  }
  runs.push(r);
  console.error(`round ${round}: ${Object.entries(r).map(([k, x]) => `${k} ${x.ms.toFixed(1)} (init ${x.init.toFixed(1)}) ${x.mode} ok=${x.ok}`).join(' | ')}`);
}
for (const s of Object.values(sites)) await s.close();
await world.stop();
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pick = (k, f) => Number(median(runs.map((r) => f(r[k]))).toFixed(1));
console.log(JSON.stringify({
  median: { a: pick('a', (x) => x.ms), b: pick('b', (x) => x.ms) },
  medianInit: { a: pick('a', (x) => x.init), b: pick('b', (x) => x.init) },
  pairedDiffMs: Number(median(runs.map((r) => r.b.ms - r.a.ms)).toFixed(1)),
  pairedRatio: Number(median(runs.map((r) => r.b.ms / r.a.ms)).toFixed(3)),
  allOk: runs.every((r) => r.a.ok && r.b.ok && r.a.mode === 'worker' && r.b.mode === 'worker'),
}));
