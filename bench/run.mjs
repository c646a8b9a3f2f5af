#!/usr/bin/env node
// authmedia benchmarks: gallery, cold start, core speed, fallback memory, video seek.
// Real Synapse (private, started here through tests/harness), headless Debian Chromium through
// playwright-core, a fresh browser profile per measured run, variants interleaved per round.
// Prints Markdown tables; writes bench/results/<section>.json. Timings never fail anything; the
// script exits non-zero only when a run could not be measured at all (broken setup).
//
//   node bench/run.mjs                  everything (ROUNDS=5)
//   ROUNDS=1 ONLY=gallery,cold node bench/run.mjs      quick iteration
//   ONLY=: gallery, cold, core, memory, video, native (comma-separated)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startBenchWorld } from './lib/world.mjs';
import {
  BENCH as HERE, ROOT, RESULTS, median, fmt, table, machine, save, startSite, serverCounts, serverCountsAtLeast, logSize,
  openBrowser, evaluate, packageMissing,
} from './lib/common.mjs';
import { getHttpUriForMxc } from '../tests/node_modules/matrix-js-sdk/lib/content-repo.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ONLY = new Set((process.env.ONLY ?? 'native,gallery,cold,core,memory,video').split(',').map((s) => s.trim()));
const N_GALLERY = Number(process.env.N_GALLERY ?? 200);
const N_MEMORY = Number(process.env.N_MEMORY ?? 500);
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---------------------------------------------------------------------------------------------
// Native core speed (divan) and js-sdk in Node.
const CLASSIFY_LABELS = [
  ['cdn.example.net', 'classify: other origin'],
  ['/client/v3/sync', 'classify: same origin, not media'],
  ['/client/v1/media/thumbnail/', 'classify: authenticated thumbnail'],
  ['/media/v3/download/', 'classify: legacy download (→ v1 URL)'],
];
const label = (name) => {
  if (!name.startsWith('http')) return `core ${name} (parse + build)`;
  return CLASSIFY_LABELS.find(([k]) => name.includes(k))?.[1] ?? `classify: ${name}`;
};
function nativeBench() {
  const out = {};
  try {
    const text = execFileSync('cargo', ['bench', '--manifest-path', path.join(HERE, 'core', 'Cargo.toml')], {
      env: { ...process.env, CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target', 'bench-core'), CARGO_TERM_COLOR: 'never' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }).toString();
    const unit = { ns: 1, 'µs': 1e3, us: 1e3, ms: 1e6 };
    // Rows: "<name>  fastest │ slowest │ median │ mean │ samples │ iters"; the median is the third time.
    for (const line of text.split('\n')) {
      const m = line.match(/^[│├╰─\s]*(\S+)\s+([\d.]+ \S+)\s+│\s+([\d.]+ \S+)\s+│\s+([\d.]+) (\S+)\s+│/);
      if (m) out[label(m[1])] = Number(m[4]) * (unit[m[5]] ?? NaN);
    }
    out.raw = text;
  } catch (e) {
    out.error = String(e.message ?? e);
  }
  // matrix-js-sdk in Node on similar inputs.
  const base = 'http://127.0.0.1:8008';
  const mxcs = Array.from({ length: 200 }, (_, i) => `mxc://authmedia.test/${(i * 7919).toString(36).padStart(24, 'x')}`);
  const runs = [];
  for (let pass = 0; pass < 7; pass++) {
    const n = 200_000;
    let sink = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += getHttpUriForMxc(base, mxcs[i % 200], 96, 96, 'crop', false, true, true).length;
    runs.push(Number(process.hrtime.bigint() - t0) / n);
    if (!sink) throw new Error('empty');
  }
  out['js-sdk getHttpUriForMxc (Node), thumbnail'] = median(runs);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Gallery.
async function gallery(site, world) {
  const variants = ['a', 'b', 'c', 'd', 'e'];
  const runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    for (const v of order) {
      const mxcs = v === 'a' ? world.pre.slice(0, N_GALLERY) : world.post.slice(0, N_GALLERY);
      const b = await openBrowser(site, world);
      try {
        await evaluate(b, (v) => window.bench.setup(v), v);
        const from = logSize(world.logFile);
        const net0 = { ...b.net };
        const r = await evaluate(b, ([v, m]) => window.bench.gallery(v, m), [v, mxcs]);
        const server = await serverCountsAtLeast(world.logFile, from, mxcs.length);
        const net = Object.fromEntries(Object.entries(b.net).map(([k, x]) => [k, x - net0[k]]));
        runs.push({ round, variant: v, ...r, server, net });
        log(`gallery round ${round} ${v}: ${fmt(r.ms)} ms ok=${r.ok} 96px=${r.right96} server=${JSON.stringify(server)} net=${JSON.stringify(net)}`);
        if (v === 'd') {
          // (d2) second view of the same gallery in the same profile: a new document (no image
          // list of the old one), the same worker with its in-memory store.
          await b.goto();
          await evaluate(b, () => window.bench.setup('d'));
          const from2 = logSize(world.logFile);
          const n0 = { ...b.net };
          const r2 = await evaluate(b, ([m]) => window.bench.gallery('d', m), [mxcs]);
          const stats = await evaluate(b, () => window.bench.stats());
          await new Promise((r) => setTimeout(r, 300)); // let late access-log lines land before counting
          const server2 = serverCounts(world.logFile, from2);
          const net2 = Object.fromEntries(Object.entries(b.net).map(([k, x]) => [k, x - n0[k]]));
          runs.push({ round, variant: 'd2', ...r2, server: server2, net: net2, workerStats: stats.worker });
          log(`gallery round ${round} d2: ${fmt(r2.ms)} ms ok=${r2.ok} server=${JSON.stringify(server2)} cacheHits=${stats.worker?.cacheHits}`);
        }
      } finally {
        await b.close();
      }
    }
  }
  const med = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'd2'].map((v) => [v, median(runs.filter((r) => r.variant === v).map((r) => r.ms))]));
  const names = {
    a: '(a) legacy URL, pre-freeze media, no worker (floor)',
    b: '(b) minimal JS worker holding the token',
    c: '(c) JS worker asking the page per request (+ cached /versions)',
    d: '(d) authmedia worker',
    e: '(e) authmedia fallback (blob URLs, no worker)',
    d2: '(d2) authmedia worker, second view (worker store)',
  };
  const rows = Object.keys(names).map((v) => {
    const rs = runs.filter((r) => r.variant === v);
    const all = rs.map((r) => fmt(r.ms)).join(', ');
    const ok = rs.every((r) => r.ok === N_GALLERY && r.right96 === N_GALLERY);
    const cacheHits = rs.reduce((s, r) => s + r.net.fromDiskCache + r.net.fromMemoryCache + r.net.fromPrefetchCache, 0);
    const srv = rs.map((r) => r.server.get).join(' ');
    return [names[v], fmt(med[v]), all, ok ? 'yes' : 'NO', String(cacheHits), srv];
  });
  const ratio = (x, y) => fmt(med[x] / med[y], 2);
  const ratios = [
    ['(d)/(a)', ratio('d', 'a')], ['(d)/(b)', ratio('d', 'b'), 'target ≤ 1.02'], ['(c)/(d)', ratio('c', 'd'), 'target ≥ 1.5'],
    ['(d)/(c)', ratio('d', 'c')], ['(e)/(a)', ratio('e', 'a')], ['(e)/(b)', ratio('e', 'b'), 'target ≤ 1.1'],
    ['(d2)/(a)', ratio('d2', 'a'), 'target < 1'], ['(b)/(a)', ratio('b', 'a')],
  ].map((r) => [r[0], r[1], r[2] ?? '']);
  const md =
    `### Gallery: ${N_GALLERY} distinct 96×96 crop thumbnails, insertion → all loaded (${ROUNDS} interleaved rounds, fresh profile per run)\n\n` +
    table(['variant', 'median ms', 'runs (ms)', `all ${N_GALLERY} loaded at 96×96`, 'HTTP-cache hits (CDP)', 'media GETs Synapse served, per run'], rows) +
    '\n\n' + table(['ratio of medians', 'value', 'target'], ratios);
  save('gallery', { rounds: ROUNDS, n: N_GALLERY, medians: med, runs });
  return md;
}

// ---------------------------------------------------------------------------------------------
// 2. Cold start.
async function coldStart(site, world) {
  const variants = ['b', 'c', 'd'];
  const runs = [];
  let k = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants.map((_, i) => variants[(i + round) % variants.length])) {
      const m1 = world.post[N_GALLERY + (k++ % 20)];
      const m2 = world.post[N_GALLERY + (k++ % 20)];
      const b = await openBrowser(site, world);
      try {
        if (v === 'd') await evaluate(b, () => import('/pkg/index.js').then((am) => am.initAsync())); // page wasm loaded before t0
        const r = await evaluate(b, ([v, m]) => window.bench.coldStart(v, m), [v, m1]);
        // Worker restart: stop every worker over CDP, then one new image.
        await b.session.send('ServiceWorker.enable');
        await b.session.send('ServiceWorker.stopAllWorkers');
        const r2 = await evaluate(b, ([v, m]) => window.bench.afterRestart(v, m), [v, m2]);
        runs.push({ round, variant: v, first: r, restart: r2 });
        log(`cold round ${round} ${v}: register→image ${fmt(r.ms, 1)} ms (ready ${fmt(r.readyMs, 1)}) restart→image ${fmt(r2.ms, 1)} ms ok=${r.ok}/${r2.ok}`);
      } finally {
        await b.close();
      }
    }
  }
  const names = { b: '(b) minimal JS worker', c: '(c) JS worker asking the page', d: '(d) authmedia worker' };
  const med = {};
  const rows = variants.map((v) => {
    const rs = runs.filter((r) => r.variant === v);
    med[v] = {
      first: median(rs.map((r) => r.first.ms)),
      ready: median(rs.map((r) => r.first.readyMs)),
      versions: median(rs.map((r) => r.first.versionsMs ?? NaN)),
      restart: median(rs.map((r) => r.restart.ms)),
    };
    return [names[v], fmt(med[v].first, 1), fmt(med[v].ready, 1), v === 'd' ? fmt(med[v].versions, 1) : '–', fmt(med[v].restart, 1),
      rs.map((r) => `${fmt(r.first.ms)}/${fmt(r.restart.ms)}`).join(' '), rs.every((r) => r.first.ok && r.restart.ok) ? 'yes' : 'NO'];
  });
  const md =
    `### Cold start: registration → first authenticated 96×96 thumbnail; worker restart (CDP ServiceWorker.stopAllWorkers) → next image (medians of ${ROUNDS})\n\n` +
    table(['variant', 'register → first image ms', 'of which register → controlling ms', 'of which the page\'s /versions ms', 'restart → image ms', 'runs first/restart ms', 'all loaded'], rows) +
    `\n\n(d) − (b): ${fmt(med.d.first - med.b.first, 1)} ms (target ≤ +15 ms); restart (d) − (b): ${fmt(med.d.restart - med.b.restart, 1)} ms.` +
    ` (d) includes \`AuthMedia.init\`: its authenticated \`/versions\` request and the session handoff; the page wasm is instantiated before t0.`;
  save('cold-start', { rounds: ROUNDS, medians: med, runs });
  return md;
}

// ---------------------------------------------------------------------------------------------
// 3. Core speed in the page.
async function coreSpeed(site, world, native) {
  const b = await openBrowser(site, world);
  let r;
  try {
    await evaluate(b, () => window.bench.setup('e'));
    r = await evaluate(b, ([m, n]) => window.bench.coreSpeed(m, n), [world.post.slice(0, 200), 20_000]);
    const compile = await evaluate(b, ([u, n]) => window.bench.wasmCompile(u, n), [['/authmedia_sw_bg.wasm', '/pkg/dist/authmedia_web_bg.wasm'], 5]);
    r.wasmCompileMs = Object.fromEntries(Object.entries(compile).map(([k, v]) => [k, median(v)]));
  } finally {
    await b.close();
  }
  const ns = r.nsPerCall;
  const rows = Object.entries(ns).map(([k, v]) => [k, fmt(v, 0)]);
  const speedup = (kind) => fmt(ns[`js-sdk getHttpUriForMxc, ${kind}`] / ns[`authmedia httpUrl (wasm), ${kind}`], 2);
  let md =
    `### Core speed\n\nIn one Chromium page, same 200 mxc URIs, 20 000 calls × 7 interleaved passes, median ns/call:\n\n` +
    table(['call', 'ns/call'], rows) +
    `\n\njs-sdk / authmedia: thumbnail ${speedup('thumbnail')} ×, download ${speedup('download')} × (target ≥ 10 ×).\n` +
    `fetch + \`WebAssembly.compileStreaming\` in the page (median of 5): ${Object.entries(r.wasmCompileMs).map(([k, v]) => `\`${k}\` ${fmt(v, 1)} ms`).join(', ')}.\n` +
    `Sample outputs: ${Object.entries(r.sample).map(([k, v]) => `\n- ${k}: \`${v.replace(world.baseUrl, '<hs>')}\``).join('')}\n`;
  if (native) {
    const nrows = Object.entries(native).filter(([k, v]) => k !== 'raw' && typeof v === 'number').map(([k, v]) => [k, fmt(v, 0)]);
    md += `\nNatively (divan median, \`cargo bench --manifest-path bench/core/Cargo.toml\`; js-sdk in Node ${process.version}):\n\n` + table(['call', 'ns/call'], nrows);
    if (native.error) md += `\n\nnative bench failed: ${native.error}`;
  }
  save('core-speed', { browser: r, native });
  return md;
}

// ---------------------------------------------------------------------------------------------
// 4. Fallback memory.
async function fallbackMemory(site, world) {
  const budget = 50 * 1024 * 1024;
  const b = await openBrowser(site, world, { args: ['--enable-precise-memory-info'], amOptions: { budgetBytes: budget } });
  let r;
  try {
    await evaluate(b, () => window.bench.setup('e'));
    r = await evaluate(b, (m) => window.bench.fallbackMemory(m), world.post.slice(0, N_MEMORY));
  } finally {
    await b.close();
  }
  const MB = (x) => fmt(x / 1024 / 1024, 1);
  const md =
    `### Fallback memory: ${N_MEMORY} distinct ${Math.round(world.imageBytes / 1024)} KB PNG downloads through the fallback, 50 MB budget (${MB(N_MEMORY * world.imageBytes)} MB in total)\n\n` +
    table(['measure', 'value'], [
      ['time, insertion → all settled', `${fmt(r.ms)} ms`],
      ['images loaded', `${r.ok} / ${N_MEMORY}`],
      ['peak JS heap (performance.memory, sampled every 20 ms)', `${MB(r.peakHeap)} MB`],
      ['peak object URLs alive', String(r.peakUrls)],
      ['peak bytes held by object URLs', `${MB(r.peakBytes)} MB`],
      ['object URLs alive at the end', String(r.end.objectUrls)],
      ['bytes held at the end', `${MB(r.end.bytes)} MB`],
      ['evictions', String(r.end.evictions)],
      ['fetches', String(r.end.fetches)],
    ]);
  save('fallback-memory', { budget, n: N_MEMORY, result: r });
  return md;
}

// ---------------------------------------------------------------------------------------------
// 5. Video seek.
async function videoSeek(site, world) {
  const runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of round % 2 ? ['d', 'a'] : ['a', 'd']) {
      const b = await openBrowser(site, world);
      try {
        await evaluate(b, (v) => window.bench.setup(v), v);
        const net0 = b.net.responses;
        const r = await evaluate(b, ([v, m]) => window.bench.videoSeek(v, m), [v, v === 'a' ? world.mp4.pre : world.mp4.post]);
        r.mediaResponses = b.net.responses - net0; // responses the page saw for the video (CDP)
        if (v === 'd') r.workerStats = (await evaluate(b, () => window.bench.stats())).worker;
        runs.push({ round, variant: v, ...r });
        log(`video round ${round} ${v}: canplay ${fmt(r.canplayMs)} ms, seek→seeked ${fmt(r.seekMs, 1)} ms, second seek ${fmt(r.seek2Ms, 1)} ms ok=${r.ok} responses=${r.mediaResponses} worker=${JSON.stringify(r.workerStats ?? null)}`);
      } finally {
        await b.close();
      }
    }
  }
  const names = { a: 'floor: legacy URL (pre-freeze), no worker', d: 'authmedia worker (v1, Range served from its store)' };
  const med = {};
  const rows = ['a', 'd'].map((v) => {
    const rs = runs.filter((r) => r.variant === v);
    med[v] = { canplay: median(rs.map((r) => r.canplayMs)), seek: median(rs.map((r) => r.seekMs)), seek2: median(rs.map((r) => r.seek2Ms)) };
    return [names[v], fmt(med[v].canplay), fmt(med[v].seek, 1), fmt(med[v].seek2, 1), rs.map((r) => `${fmt(r.seekMs)}/${fmt(r.seek2Ms)}`).join(' '),
      String(median(rs.map((r) => r.mediaResponses))), rs.every((r) => r.ok) ? 'yes' : 'NO'];
  });
  const md =
    `### Video seek: ${(world.mp4.bytes / 1e6).toFixed(1)} MB mp4, seek to the middle → \`seeked\` (medians of ${ROUNDS}, fresh profile per run)\n\n` +
    table(['variant', 'src → canplay ms', 'seek to ½ right after canplay → seeked ms', 'then seek to ¾ → seeked ms', 'runs ½/¾ ms', 'video responses the page got (CDP, median)', 'all ok'], rows) +
    `\n\nworker / floor: first seek ${fmt(med.d.seek / med.a.seek, 2)}, second seek ${fmt(med.d.seek2 / med.a.seek2, 2)}`;
  save('video-seek', { rounds: ROUNDS, medians: med, runs });
  return md;
}

// ---------------------------------------------------------------------------------------------
async function main() {
  const started = Date.now();
  const sections = [];
  let native = null;
  if (ONLY.has('native')) {
    log('native core bench (cargo bench, divan)…');
    native = nativeBench();
  }
  const needBrowser = ['gallery', 'cold', 'core', 'memory', 'video'].some((s) => ONLY.has(s));
  if (needBrowser) {
    if (!existsOrExplain()) process.exit(2);
    log('starting Synapse and uploading media…');
    const world = await startBenchWorld({ nPre: N_GALLERY, nPost: Math.max(N_MEMORY, N_GALLERY + 20), warmExtra: 20, log });
    const site = await startSite();
    try {
      if (ONLY.has('gallery')) sections.push(await gallery(site, world));
      if (ONLY.has('cold')) sections.push(await coldStart(site, world));
      if (ONLY.has('core')) sections.push(await coreSpeed(site, world, native));
      if (ONLY.has('memory')) sections.push(await fallbackMemory(site, world));
      if (ONLY.has('video')) sections.push(await videoSeek(site, world));
    } finally {
      await site.close();
      rmSync(site.dir, { recursive: true, force: true });
      await world.stop();
    }
  } else if (native) {
    const rows = Object.entries(native).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, fmt(v, 0)]);
    sections.push(`### Core speed, natively (divan median ns/call)\n\n${table(['call', 'ns/call'], rows)}`);
    save('core-speed', { native });
  }
  const m = machine();
  const header =
    `## Results ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — ${m.chromium}, ${m.cpus} × ${m.cpuModel}, ${m.memGB} GB, ` +
    `load average at the end ${m.loadavg.join(' ')}, Node ${m.node}, commit ${m.commit}, took ${Math.round((Date.now() - started) / 1000)} s`;
  console.log(`${header}\n\n${sections.join('\n\n')}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, 'summary.md'), `${header}\n\n${sections.join('\n\n')}\n`);
}

function existsOrExplain() {
  const missing = packageMissing();
  if (missing) console.error(`${missing} is missing: run scripts/build.sh first (scripts/bench.sh does)`);
  return !missing;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
