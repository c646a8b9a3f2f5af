// A/B of two builds of the page package's fallback gallery in one browser: distinct 96×96 crop
// thumbnails through `media.src()` (no worker), variants interleaved per round, paired ratios.
// Build each package (scripts/build.sh), copy npm/ somewhere, then:
//   PKG_A=/copy/of/old/npm PKG_B=/copy/of/new/npm ROUNDS=8 N=200 node bench/ab/fallback-ab.mjs
//   VARIANTS='{"c6":{"pkg":"/pkg-b/"},"c12":{"pkg":"/pkg-b/","opts":{"concurrency":12}}}'  other options
import { startBenchWorld } from '../lib/world.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium } from '../../tests/lib/browser.mjs';
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const need = (name) => {
  if (!process.env[name]) throw new Error(`${name}: the directory of a built npm package (a copy of npm/ after scripts/build.sh)`);
  return process.env[name];
};
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const N = Number(process.env.N ?? 200);
const variants = JSON.parse(process.env.VARIANTS ?? '{"old":{"pkg":"/pkg-a/"},"new":{"pkg":"/pkg-b/"}}');
const world = await startBenchWorld({ nPre: 1, nPost: N, warmExtra: 0, log: (m) => console.error(m) });
const dir = mkdtempSync(path.join(os.tmpdir(), 'fab-'));
writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><div id="root"></div>');
const site = await startStaticServer({ root: dir, mounts: { '/pkg-a/': need('PKG_A'), '/pkg-b/': need('PKG_B') } });
const b = await launchChromium();
const runs = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(variants);
    const order = round % 2 ? names.reverse() : names;
    const r = {};
    for (const v of order) {
      const page = await b.context.newPage();
      await page.goto(site.url('/'));
      r[v] = await page.evaluate(async ([pkg, opts, cfg, mxcs]) => {
        const am = await import(`${pkg}index.js`);
        const media = await am.AuthMedia.init({ homeserver: cfg.hs, accessToken: cfg.token, userId: cfg.userId, workerUrl: null, ...opts });
        const root = document.getElementById('root');
        const t0 = performance.now();
        const imgs = mxcs.map(() => document.createElement('img'));
        const done = Promise.all(imgs.map((img) => new Promise((res) => { img.onload = () => res(img.naturalWidth === 96); img.onerror = () => res(false); })));
        root.append(...imgs);
        imgs.forEach((img, i) => media.src(mxcs[i], { thumbnail: { width: 96, height: 96, method: 'crop' } }).then((u) => { img.src = u; }, () => img.dispatchEvent(new Event('error'))));
        const ok = (await done).filter(Boolean).length;
        const ms = performance.now() - t0;
        return { ms, ok, mode: media.mode };
      }, [variants[v].pkg, variants[v].opts ?? {}, { hs: world.baseUrl, token: world.token, userId: world.userId }, world.post.slice(0, N)]);
      await page.close();
    }
    runs.push(r);
    console.error(`round ${round}: ${Object.entries(r).map(([k, x]) => `${k} ${x.ms.toFixed(0)} ms ok=${x.ok} ${x.mode}`).join(' | ')}`);
  }
} finally {
  await b.close();
  await site.close();
  await world.stop();
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const names = Object.keys(variants);
const out = { medians: {}, pairedRatiosVsFirst: {} };
for (const v of names) out.medians[v] = Math.round(median(runs.map((r) => r[v].ms)));
for (const v of names.slice(1)) out.pairedRatiosVsFirst[v] = Number(median(runs.map((r) => r[v].ms / r[names[0]].ms)).toFixed(3));
out.allOk = runs.every((r) => names.every((v) => r[v].ok === N));
console.log(JSON.stringify(out));
