#!/usr/bin/env node
// Encrypted attachments end to end: `srcEncrypted(file)` and reading the whole plaintext from the
// URL it gives, in worker mode and in the fallback, against a real Synapse in headless Chromium —
// for this build, and optionally another build of the package (OLD_NPM=<its npm/ dir>) side by
// side. A fresh browser profile per measured run; variants interleaved per round. Prints a Markdown
// table (median ms, MB/s, the worker's wasm memory after the run, which implementation decrypted);
// writes bench/results/encrypted.json. Timings never fail anything; a wrong plaintext does.
//
//   node bench/encrypted.mjs                                   this build (run scripts/build.sh first)
//   OLD_NPM=/tmp/old/npm ROUNDS=3 SIZES_MB=1,8,24 node bench/encrypted.mjs
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorld } from '../support/world.mjs';
import { uploadEncrypted } from '../tests/harness/encrypted.mjs';
import { launchChromium, CHROMIUM_PATH } from '../tests/lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, NPM_DIR } from '../tests/pages/page/site.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SIZES_MB = (process.env.SIZES_MB ?? '1,8,24').split(',').map(Number);
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);
const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length ? (v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2) : NaN;
};

const variants = [{ name: 'this build', npmDir: NPM_DIR }];
if (process.env.OLD_NPM) variants.push({ name: `OLD_NPM (${process.env.OLD_NPM})`, npmDir: process.env.OLD_NPM });

log('starting Synapse and the test world…');
const world = await startWorld();
const alice = world.users.alice;
const files = [];
for (const mb of SIZES_MB) {
  const plain = randomBytes(Math.round(mb * 1024 * 1024));
  files.push({ mb, bytes: plain.length, sha: createHash('sha256').update(plain).digest('hex'), file: await uploadEncrypted(world, `bench-${mb}mb.bin`, plain) });
  log(`uploaded ${mb} MB encrypted`);
}
// One site (origin) per variant: each registers its own worker.
for (const v of variants) v.site = await startPageSite({ npmDir: v.npmDir });

/** One measured run in a fresh browser: ms from srcEncrypted to the last plaintext byte. */
async function run(v, mode, f) {
  const browser = await launchChromium();
  try {
    const page = browser.page;
    await page.goto(v.site.url('/'));
    await waitForPackage(page);
    const opts = { homeserver: world.synapse.baseUrl, accessToken: alice.accessToken, userId: alice.userId };
    if (mode === 'fallback') opts.fallback = 'force';
    await initInPage(page, opts);
    if (mode === 'worker') {
      await page.waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    }
    const r = await page.evaluate(async (file) => {
      const t0 = performance.now();
      const url = await window.media.srcEncrypted(file, { mimetype: 'application/octet-stream' });
      const buf = await (await fetch(url)).arrayBuffer();
      const ms = performance.now() - t0;
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const stats = await window.media.refreshStats();
      return { ms, bytes: buf.byteLength, digest, worker: stats.worker, fallback: stats.fallback };
    }, f.file);
    if (r.digest !== f.sha || r.bytes !== f.bytes) throw new Error(`${v.name} ${mode} ${f.mb} MB: wrong plaintext`);
    const counts = mode === 'worker' ? r.worker : r.fallback;
    const by = counts?.decryptedWebCrypto ? 'WebCrypto' : counts?.decryptedWasm ? 'wasm' : 'wasm (no counter: older build)';
    return { ms: r.ms, wasmMemory: mode === 'worker' ? r.worker?.wasmMemoryBytes : null, by };
  } finally {
    await browser.close();
  }
}

const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const f of files) {
    for (const mode of ['worker', 'fallback']) {
      for (const v of variants) {
        const r = await run(v, mode, f);
        log(`round ${round}: ${f.mb} MB ${mode} ${v.name}: ${r.ms.toFixed(0)} ms (${r.by})`);
        results.push({ round, mb: f.mb, mode, variant: v.name, ...r });
      }
    }
  }
}

const rows = [];
for (const f of files) {
  for (const mode of ['worker', 'fallback']) {
    for (const v of variants) {
      const rs = results.filter((r) => r.mb === f.mb && r.mode === mode && r.variant === v.name);
      const ms = median(rs.map((r) => r.ms));
      const mem = median(rs.map((r) => r.wasmMemory ?? NaN));
      rows.push(`| ${f.mb} MB | ${mode} | ${v.name} | ${ms.toFixed(0)} | ${(f.bytes / 1048576 / (ms / 1000)).toFixed(1)} | ${Number.isFinite(mem) ? (mem / 1048576).toFixed(1) + ' MiB' : '—'} | ${rs[0].by} |`);
    }
  }
}
console.log(`Encrypted attachments end to end (srcEncrypted + whole body), median of ${ROUNDS}, Chromium ${CHROMIUM_PATH}, ${new Date().toISOString()}`);
console.log('\n| size | mode | build | ms | MB/s | worker wasm memory after | decrypted by |\n|---|---|---|---|---|---|---|');
console.log(rows.join('\n'));
mkdirSync(path.join(HERE, 'results'), { recursive: true });
writeFileSync(path.join(HERE, 'results', 'encrypted.json'), JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, results }, null, 2));
for (const v of variants) await v.site.close();
await world.stop();
