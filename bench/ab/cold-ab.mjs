// Paired A/B of two builds of the page package's cold start: a fresh browser profile per run,
// `AuthMedia.init` → worker mode → first authenticated 96×96 thumbnail (the worker files of npm/sw).
//   PKG_A=/copy/of/old/npm PKG_B=/copy/of/new/npm ROUNDS=10 node bench/ab/cold-ab.mjs
import { startBenchWorld } from '../lib/world.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium } from '../../tests/lib/browser.mjs';
import { writeFileSync, mkdtempSync, copyFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const need = (name) => {
  if (!process.env[name]) throw new Error(`${name}: the directory of a built npm package (a copy of npm/ after scripts/build.sh)`);
  return process.env[name];
};
const SW_DIR = new URL('../../npm/sw/', import.meta.url).pathname;
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const pk = { old: '/pkg-a/', new: '/pkg-b/' };
const world = await startBenchWorld({ nPre: 1, nPost: ROUNDS * 2 + 2, warmExtra: 0, log: (m) => console.error(m) });
const dir = mkdtempSync(path.join(os.tmpdir(), 'cab-'));
writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><div id="root"></div>');
for (const f of readdirSync(SW_DIR)) copyFileSync(path.join(SW_DIR, f), path.join(dir, f));
const site = await startStaticServer({ root: dir, mounts: { '/pkg-a/': need('PKG_A'), '/pkg-b/': need('PKG_B') } });
const runs = [];
let n = 0;
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? ['new', 'old'] : ['old', 'new'];
  const r = {};
  for (const v of order) {
    const b = await launchChromium();
    try {
      await b.page.goto(site.url('/'));
      r[v] = await b.page.evaluate(async ([pkg, cfg, mxc]) => {
        const am = await import(`${pkg}index.js`);
        await am.initAsync();
        const t0 = performance.now();
        const media = await am.AuthMedia.init({ homeserver: cfg.hs, accessToken: cfg.token, userId: cfg.userId, workerUrl: '/authmedia-sw.js' });
        const tInit = performance.now();
        await new Promise((res) => { const check = () => (media.mode === 'worker' && navigator.serviceWorker.controller ? res() : setTimeout(check, 2)); check(); });
        const tWorker = performance.now();
        const img = new Image();
        img.src = await media.src(mxc, { thumbnail: { width: 96, height: 96, method: 'crop' } });
        await img.decode();
        return { ms: performance.now() - t0, init: tInit - t0, worker: tWorker - t0, ok: img.naturalWidth === 96 };
      }, [pk[v], { hs: world.baseUrl, token: world.token, userId: world.userId }, world.post[n++]]);
    } finally {
      await b.close();
    }
  }
  runs.push(r);
  console.error(`round ${round}: ${Object.entries(r).map(([k, x]) => `${k} ${x.ms.toFixed(0)} (init ${x.init.toFixed(0)}, worker ${x.worker.toFixed(0)}) ok=${x.ok}`).join(' | ')}`);
}
await site.close();
await world.stop();
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
console.log(JSON.stringify({
  median: { old: Math.round(median(runs.map((r) => r.old.ms))), new: Math.round(median(runs.map((r) => r.new.ms))) },
  medianWorker: { old: Math.round(median(runs.map((r) => r.old.worker))), new: Math.round(median(runs.map((r) => r.new.worker))) },
  pairedDiffMs: Math.round(median(runs.map((r) => r.new.ms - r.old.ms))),
  pairedRatio: Number(median(runs.map((r) => r.new.ms / r.old.ms)).toFixed(3)),
  allOk: runs.every((r) => r.old.ok && r.new.ok),
}));
