#!/usr/bin/env node
// Before/after benchmark: two builds of the npm package (BASE_NPM, HEAD_NPM: directories laid out
// like npm/ after scripts/build.sh) and the minimal hand-written worker (bench/pages/sw-token.js),
// measured in one run on one machine against one private Synapse (bench/lib/world.mjs), a fresh
// Chromium profile per run, the variants interleaved per round (order rotated each round).
// Every figure is printed for base and head (and the minimal worker where it applies) with
// PAIRED ratios: the ratio of two variants within the same round, then the median and range of
// those per-round ratios. scripts/bench-compare.sh builds both packages and calls this.
//
// Worker thread CPU (ONLY=cpu) is THE measurement of the worker's CPU: the kernel's on-CPU time
// (Linux schedstat) of the browser's "ServiceWorker thread" from just before 200 thumbnails are
// inserted until all have loaded, worker already installed and its wasm compiled (not counted),
// no trace running (tracing costs the traced thread CPU); details at cpuSection.
//
//   BASE_NPM=/tmp/base/npm [HEAD_NPM=npm] ROUNDS=5 node bench/compare.mjs
//   ONLY=sizes,gallery,cpu,cold,url (comma-separated; default all)
//   BASE_LABEL / HEAD_LABEL name the builds in the tables (e.g. their commits).
//   COLD_ROUNDS (default 2 × ROUNDS), N_GALLERY (200), URL_ITER (5000 calls per pass), TRACE_DIR
//   (keep every trace as JSON, loadable in DevTools' Performance panel), PROFILE=1 (trace the cpu
//   runs for a breakdown of the worker's CPU; see cpuSection for what the CPU figure measures).
// Prints Markdown; writes bench/results/compare.{json,md}. Timings never fail anything; the exit
// status is non-zero only when a run could not be measured (a missing build, a page error).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { startBenchWorld } from './lib/world.mjs';
import {
  ROOT, RESULTS, median, fmt, table, machine, startSite, closeSite, serverCountsAtLeast, logSize, openBrowser, evaluate, packageMissing,
} from './lib/common.mjs';
import { startTrace, workerCpu, coldTimeline, CPU_CATEGORIES, COLD_CATEGORIES, COLD_STEPS } from './lib/trace.mjs';
import { swThreadCpuNs } from './lib/thread-cpu.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
// A cold start is one image (a few seconds per run) and noisier than a gallery: twice the rounds by default.
const COLD_ROUNDS = Number(process.env.COLD_ROUNDS ?? 2 * ROUNDS);
const ONLY = new Set((process.env.ONLY ?? 'sizes,gallery,cpu,cold,url').split(',').map((s) => s.trim()));
const N_GALLERY = Number(process.env.N_GALLERY ?? 200);
const URL_ITER = Number(process.env.URL_ITER ?? 5000);
const PROFILE = process.env.PROFILE === '1';
const BASE_NPM = process.env.BASE_NPM ? path.resolve(process.env.BASE_NPM) : null;
const HEAD_NPM = path.resolve(process.env.HEAD_NPM ?? path.join(ROOT, 'npm'));
const LABEL = { min: 'minimal worker', base: `base ${process.env.BASE_LABEL ?? ''}`.trim(), head: `head ${process.env.HEAD_LABEL ?? ''}`.trim() };
const log = (...a) => console.error(`[compare ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** TRACE_DIR=<dir>: keep every trace as <dir>/<name>.json (loadable in DevTools' Performance panel). */
const dump = (name, events) => {
  if (!process.env.TRACE_DIR) return;
  mkdirSync(process.env.TRACE_DIR, { recursive: true });
  writeFileSync(path.join(process.env.TRACE_DIR, `${name}.json`), JSON.stringify({ traceEvents: events }));
};
/**
 * The order of the variants in a round: rotated each round and reversed every other round, so no
 * variant always runs first or always follows the same one (a run can leave work behind: the
 * previous browser shutting down, Synapse writing its logs).
 */
const rotate = (xs, round) => {
  const r = xs.map((_, i) => xs[(i + round) % xs.length]);
  return round % 2 ? r.reverse() : r;
};
const MB = (x) => fmt(x / 1024 / 1024, 1);
const KB = (x) => fmt(x / 1000, 1);

const roundsOf = (runs) => [...new Set(runs.map((u) => u.round))].sort((x, y) => x - y);
/** Paired ratios: for each round where both ran, a/b; then median and range. */
function paired(runs, a, b, value) {
  const rs = [];
  for (const r of roundsOf(runs)) {
    const x = runs.find((u) => u.round === r && u.variant === a);
    const y = runs.find((u) => u.round === r && u.variant === b);
    const vx = x && value(x);
    const vy = y && value(y);
    if (Number.isFinite(vx) && Number.isFinite(vy) && vy !== 0) rs.push(vx / vy);
  }
  return rs;
}
/** Paired differences a − b per round. */
function pairedDiff(runs, a, b, value) {
  const rs = [];
  for (const r of roundsOf(runs)) {
    const x = runs.find((u) => u.round === r && u.variant === a);
    const y = runs.find((u) => u.round === r && u.variant === b);
    const vx = x && value(x);
    const vy = y && value(y);
    if (Number.isFinite(vx) && Number.isFinite(vy)) rs.push(vx - vy);
  }
  return rs;
}
const range = (xs, d) => (xs.length ? `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}` : 'n/a');
const ratioRow = (name, rs, d = 2) => [name, fmt(median(rs), d), range(rs, d), rs.map((x) => fmt(x, d)).join(' ')];
const RATIO_HEAD = ['paired (same round)', 'median', 'range', 'per round'];

// ---------------------------------------------------------------------------------------------
// Sizes: the files of each package, and what a first visit in worker mode downloaded.
const gz = (buf) => gzipSync(buf, { level: 9 }).length;
function packageFiles(npmDir) {
  const out = [];
  const add = (rel) => {
    const buf = readFileSync(path.join(npmDir, rel));
    out.push({ file: rel, raw: buf.length, gz: gz(buf) });
  };
  for (const sub of ['sw', 'dist']) {
    for (const f of readdirSync(path.join(npmDir, sub)).sort()) if (/\.(wasm|m?js)$/.test(f)) add(`${sub}/${f}`);
  }
  for (const f of readdirSync(npmDir).sort()) if (/\.m?js$/.test(f) && !/^(vite|webpack)/.test(f)) add(f);
  return out;
}
/** JS + wasm a run downloaded from the site (page and worker; the bench's own page script and js-sdk excluded), gzip -9. */
function firstVisit(site, fromIndex) {
  const seen = new Map();
  for (const { path: p } of site.served.slice(fromIndex)) {
    if (!/\.(wasm|m?js)$/.test(p) || p === '/bench.js' || p.startsWith('/js-sdk/') || seen.has(p)) continue;
    const f = site.fileOf(p);
    if (f) { const buf = readFileSync(f); seen.set(p, { raw: buf.length, gz: gz(buf) }); }
  }
  let raw = 0;
  let gzs = 0;
  for (const v of seen.values()) { raw += v.raw; gzs += v.gz; }
  return { files: [...seen.keys()], raw, gz: gzs };
}

function sizesSection(pkgs) {
  const names = [...new Set(Object.values(pkgs).flatMap((p) => p.map((f) => f.file)))];
  const cell = (p, f) => { const x = p.find((y) => y.file === f); return x ? `${KB(x.raw)} / ${KB(x.gz)}` : '—'; };
  const rows = names.map((f) => [`\`${f}\``, cell(pkgs.base, f), cell(pkgs.head, f)]);
  return `### Sizes: files of each build, KB raw / gzip -9 (zlib level 9)\n\n` + table(['file', LABEL.base, LABEL.head], rows);
}

// ---------------------------------------------------------------------------------------------
// Variants: which site, which page-side setup ('b' minimal worker, 'd' authmedia worker, 'e' fallback,
// 'f' the minimal blob-URL fallback written in bench/pages/bench.js).
let SITES;
const VARIANTS = {
  min: { site: 'head', setup: 'b' },
  base: { site: 'base', setup: 'd' },
  head: { site: 'head', setup: 'd' },
  'base-fb': { site: 'base', setup: 'e' },
  'head-fb': { site: 'head', setup: 'e' },
  'min-fb': { site: 'head', setup: 'f' },
  'min-full': { site: 'head', setup: 'g' },
};
const NAMES = {
  min: 'minimal worker (bench/pages/sw-token.js)',
  base: `${LABEL.base}: authmedia worker`,
  head: `${LABEL.head}: authmedia worker`,
  'base-fb': `${LABEL.base}: fallback (no worker)`,
  'head-fb': `${LABEL.head}: fallback (no worker)`,
  'min-fb': 'minimal fallback (no worker; fetch → blob() → object URL, 6 at once: bench/pages/bench.js)',
  'min-full': 'minimal worker doing the same browser-side work as ours (new Request, abort timer, blob(), new Response: bench/pages/sw-full.js)',
};

async function gallerySection(world) {
  const order = ['min', 'base', 'head', 'base-fb', 'head-fb', 'min-fb'];
  const mxcs = world.post.slice(0, N_GALLERY);
  const runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of rotate(order, round)) {
      const { site, setup } = VARIANTS[v];
      const b = await openBrowser(SITES[site], world);
      try {
        await evaluate(b, (s) => window.bench.setup(s), setup);
        const from = logSize(world.logFile);
        const net0 = { ...b.net };
        const r = await evaluate(b, ([s, m]) => window.bench.gallery(s, m), [setup, mxcs]);
        const server = await serverCountsAtLeast(world.logFile, from, mxcs.length);
        const cacheHits = ['fromDiskCache', 'fromMemoryCache', 'fromPrefetchCache'].reduce((s, k) => s + b.net[k] - net0[k], 0);
        const run = { round, variant: v, ...r, server, cacheHits };
        if (setup === 'e' || setup === 'f') {
          // JS heap of the page right after the gallery, then after a forced garbage collection.
          await b.session.send('Performance.enable');
          const heap = async () => (await b.session.send('Performance.getMetrics')).metrics.find((m) => m.name === 'JSHeapUsedSize')?.value;
          run.heapAfter = await heap();
          await b.session.send('HeapProfiler.collectGarbage');
          run.heapAfterGc = await heap();
        }
        runs.push(run);
        log(`gallery round ${round} ${v}: ${fmt(r.ms)} ms ok=${r.ok} 96px=${r.right96} server=${server.get} cacheHits=${cacheHits}${run.heapAfter ? ` heap=${MB(run.heapAfter)} MB` : ''}`);
      } finally {
        await b.close();
      }
    }
  }
  const ms = (r) => r.ms;
  const rows = order.map((v) => {
    const rs = runs.filter((r) => r.variant === v);
    const ok = rs.length === ROUNDS && rs.every((r) => r.ok === N_GALLERY && r.right96 === N_GALLERY);
    return [NAMES[v], fmt(median(rs.map(ms))), rs.map((r) => fmt(r.ms)).join(', '), ok ? 'yes' : 'NO',
      String(rs.reduce((s, r) => s + r.cacheHits, 0)), rs.map((r) => r.server.get).join(' ')];
  });
  const ratios = [
    ratioRow('head / minimal', paired(runs, 'head', 'min', ms)),
    ratioRow('base / minimal', paired(runs, 'base', 'min', ms)),
    ratioRow('head / base', paired(runs, 'head', 'base', ms)),
    ratioRow('head fallback / minimal', paired(runs, 'head-fb', 'min', ms)),
    ratioRow('base fallback / minimal', paired(runs, 'base-fb', 'min', ms)),
    ratioRow('head fallback / base fallback', paired(runs, 'head-fb', 'base-fb', ms)),
    ratioRow('minimal fallback / minimal', paired(runs, 'min-fb', 'min', ms)),
    ratioRow('head fallback / minimal fallback', paired(runs, 'head-fb', 'min-fb', ms)),
  ];
  const heapRows = ['base-fb', 'head-fb', 'min-fb'].map((v) => {
    const rs = runs.filter((r) => r.variant === v);
    return [NAMES[v], MB(median(rs.map((r) => r.heapAfter))), rs.map((r) => MB(r.heapAfter)).join(' '), MB(median(rs.map((r) => r.heapAfterGc))), rs.map((r) => MB(r.heapAfterGc)).join(' ')];
  });
  const md =
    `### Gallery: ${N_GALLERY} distinct 96×96 crop thumbnails, insertion → all loaded (${ROUNDS} rounds, fresh profile per run)\n\n` +
    table(['variant', 'median ms', 'runs (ms, round order)', `all ${N_GALLERY} at 96×96`, 'HTTP-cache hits (CDP)', 'media GETs Synapse served, per run'], rows) +
    '\n\n' + table(RATIO_HEAD, ratios) +
    `\n\nFallback: JS heap of the page after the gallery (CDP \`Performance.getMetrics\` JSHeapUsedSize, MB), then after \`HeapProfiler.collectGarbage\`:\n\n` +
    table(['variant', 'heap after gallery, median', 'runs', 'after GC, median', 'runs'], heapRows);
  return { md, runs };
}

/**
 * Worker thread CPU for a gallery: the one measurement of it (scripts/bench-compare.sh runs it).
 *
 * The figure is the on-CPU time, as the kernel counts it (bench/lib/thread-cpu.mjs: schedstat of
 * every thread named "ServiceWorker thread" of this run's browser), that the service worker's
 * thread spends from just before the page inserts N_GALLERY (200) distinct 96×96 thumbnails until
 * every one of them has loaded: all N fetch events, their fetches and responses, JS, wasm, lazy
 * compilation of wasm functions, GC on that thread. The worker is installed, its wasm compiled
 * and instantiated and the page controlled before the window opens (setup), so install, script
 * evaluation and wasm compile are NOT counted; background threads (V8's optimising compiler,
 * concurrent GC, the network service) are not either. No trace runs meanwhile: tracing costs the
 * traced thread CPU, more for a worker making many traced calls. PROFILE=1 adds a CDP trace of
 * the same runs for a breakdown (V8 samples by kind) and prints the trace's own sum of task CPU;
 * the figure of those runs is then inflated by the trace.
 */
async function cpuSection(world) {
  const order = ['min', 'min-full', 'base', 'head'];
  const mxcs = world.post.slice(0, N_GALLERY);
  const runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of rotate(order, round)) {
      const { site, setup } = VARIANTS[v];
      const b = await openBrowser(SITES[site], world);
      try {
        await evaluate(b, (s) => window.bench.setup(s), setup);
        const stop = PROFILE ? await startTrace(b.session, CPU_CATEGORIES) : null;
        const before = swThreadCpuNs(b.userDataDir);
        const r = await evaluate(b, ([s, m]) => window.bench.gallery(s, m), [setup, mxcs]);
        const after = swThreadCpuNs(b.userDataDir);
        const run = { round, variant: v, ms: r.ms, ok: r.ok === N_GALLERY && !!before && !!after, cpuMs: before && after ? (after.ns - before.ns) / 1e6 : NaN };
        if (stop) {
          const events = await stop();
          dump(`cpu-${round}-${v}`, events);
          run.trace = workerCpu(events, 'bench:gallery-start', 'bench:gallery-end');
        }
        runs.push(run);
        const t = run.trace;
        log(`cpu round ${round} ${v}: worker thread CPU ${fmt(run.cpuMs)} ms; gallery ${fmt(r.ms)} ms ok=${r.ok}` +
          (t ? `; trace: tasks' CPU ${fmt(t.threadMs)} ms (wall ${fmt(t.wallMs)}) in ${t.tasks} tasks, samples ms ${JSON.stringify(Object.fromEntries(Object.entries(t.byKind).map(([k2, x]) => [k2, Math.round(x)])))}` : ''));
      } finally {
        await b.close();
      }
    }
  }
  const cpu = (r) => r.cpuMs;
  const rows = order.map((v) => {
    const rs = runs.filter((r) => r.variant === v);
    const m = (f) => fmt(median(rs.map(f)));
    const row = [NAMES[v], m(cpu), rs.map((r) => fmt(r.cpuMs)).join(', '), m((r) => r.ms), rs.every((r) => r.ok && r.cpuMs > 0) ? 'yes' : 'NO'];
    if (!PROFILE) return row;
    const share = (k2) => `${m((r) => r.trace.byKind[k2])} (${fmt(median(rs.map((r) => (100 * r.trace.byKind[k2]) / r.trace.sampledMs)))} %)`;
    return [...row, m((r) => r.trace.threadMs), m((r) => r.trace.tasks), share('wasm'), share('js'), share('api'), share('anon'), share('gc'), share('other')];
  });
  const ratios = [
    ratioRow('head / minimal', paired(runs, 'head', 'min', cpu)),
    ratioRow('base / minimal', paired(runs, 'base', 'min', cpu)),
    ratioRow('head / base', paired(runs, 'head', 'base', cpu)),
    ratioRow('same-work minimal / minimal', paired(runs, 'min-full', 'min', cpu)),
    ratioRow('head / same-work minimal', paired(runs, 'head', 'min-full', cpu)),
  ];
  const head = ['variant', 'worker thread CPU ms, median', 'runs', 'gallery ms', 'ok'];
  const md =
    `### Worker thread CPU for the gallery (kernel schedstat of the "ServiceWorker thread", ${ROUNDS} rounds${PROFILE ? ', TRACED: figures inflated by the trace' : ', untraced'})\n\n` +
    `CPU = the thread's on-CPU time (Linux \`/proc/<pid>/task/<tid>/schedstat\`) from just before the ${N_GALLERY} images are inserted ` +
    `until all have loaded; the worker is installed, its wasm compiled and the page controlled before (not counted), ` +
    `background threads are not counted. Command: \`ONLY=cpu ROUNDS=5 scripts/bench-compare.sh <base-ref>\`.` +
    (PROFILE
      ? ` The split: the trace's sum of the thread's top-level task CPU (\`tdur\` of \`RunTask\`), then V8 CPU-profiler samples ` +
        `inside those tasks by the function on top of the stack, ms and share — wasm; JS = scripts (entry script, wasm-bindgen glue); ` +
        `API = built-ins and Web APIs and the js-to-wasm / wasm-to-js wrappers; anon = V8-internal JS; GC; native = "(program)".`
      : '') +
    '\n\n' +
    table(PROFILE ? [...head, 'trace: task CPU ms', 'tasks', 'wasm', 'JS', 'API', 'anon', 'GC', 'native'] : head, rows) +
    '\n\n' + table(RATIO_HEAD, ratios);
  return { md, runs };
}

async function coldSection(world) {
  const order = ['min', 'base', 'head'];
  const runs = [];
  let k = 0;
  for (let round = 0; round < COLD_ROUNDS; round++) {
    for (const v of rotate(order, round)) {
      const { site: siteName, setup } = VARIANTS[v];
      const site = SITES[siteName];
      const m1 = world.post[N_GALLERY + (k++ % 20)];
      const m2 = world.post[N_GALLERY + (k++ % 20)];
      const servedFrom = site.served.length;
      const b = await openBrowser(site, world);
      try {
        if (setup === 'd') await evaluate(b, () => import('/pkg/index.js').then((am) => am.initAsync())); // page wasm loaded before t0
        const stop = await startTrace(b.session, COLD_CATEGORIES);
        const r = await evaluate(b, ([s, m]) => window.bench.coldStart(s, m), [setup, m1]);
        const events = await stop();
        dump(`cold-${round}-${v}`, events);
        const steps = coldTimeline(events);
        await b.session.send('ServiceWorker.enable');
        await b.session.send('ServiceWorker.stopAllWorkers');
        const r2 = await evaluate(b, ([s, m]) => window.bench.afterRestart(s, m), [setup, m2]);
        const visit = firstVisit(site, servedFrom);
        runs.push({ round, variant: v, first: r.ms, ready: r.readyMs, ok: r.ok && r2.ok, restart: r2.ms, steps, visit });
        log(`cold round ${round} ${v}: init/register→image ${fmt(r.ms, 1)} ms, restart→image ${fmt(r2.ms, 1)} ms ok=${r.ok}/${r2.ok}; first visit ${KB(visit.gz)} KB gz (${visit.files.join(' ')})`);
      } finally {
        await b.close();
      }
    }
  }
  const first = (r) => r.first;
  const restart = (r) => r.restart;
  const col = (v, f, d = 1) => { const rs = runs.filter((r) => r.variant === v); return `${fmt(median(rs.map(f)), d)} (${range(rs.map(f), 0)})`; };
  const rows = [
    ['init/register → first image, ms', ...order.map((v) => col(v, first))],
    ['of which until setup resolved (worker controls, session handed over)', ...order.map((v) => col(v, (r) => r.ready))],
    ['worker restart → next image, ms', ...order.map((v) => col(v, restart))],
    ['all images loaded', ...order.map((v) => (runs.filter((r) => r.variant === v).every((r) => r.ok) ? 'yes' : 'NO'))],
    ['first visit: JS + wasm downloaded (page and worker), KB gzip', ...order.map((v) => col(v, (r) => r.visit.gz / 1000))],
  ];
  const diffs = [
    ratioRow('head − minimal, first image (ms)', pairedDiff(runs, 'head', 'min', first), 1),
    ratioRow('base − minimal, first image (ms)', pairedDiff(runs, 'base', 'min', first), 1),
    ratioRow('head − base, first image (ms)', pairedDiff(runs, 'head', 'base', first), 1),
    ratioRow('head / base, first image', paired(runs, 'head', 'base', first)),
    ratioRow('head − base, after restart (ms)', pairedDiff(runs, 'head', 'base', restart), 1),
  ];
  const stepCell = (v, label) => {
    const ss = runs.filter((r) => r.variant === v).map((r) => r.steps[label]).filter(Boolean);
    if (!ss.length) return '–';
    const s = median(ss.map((x) => x.start));
    const e = median(ss.map((x) => x.end));
    if (ss[0].total !== undefined) return `${fmt(s, 1)} → ${fmt(e, 1)} (Σ ${fmt(median(ss.map((x) => x.total)), 1)})`;
    return Math.abs(e - s) < 0.05 ? `at ${fmt(s, 1)}` : `${fmt(s, 1)} → ${fmt(e, 1)} (${fmt(median(ss.map((x) => x.end - x.start)), 1)})`;
  };
  const labels = [...COLD_STEPS.map(([label]) => label), ...new Set(runs.flatMap((r) => Object.keys(r.steps)).filter((l) => l.startsWith('mark: ')))];
  const stepRows = labels.map((label) => [label, ...order.map((v) => stepCell(v, label))]);
  const files = order.map((v) => `${NAMES[v]}: ${[...new Set(runs.filter((r) => r.variant === v).flatMap((r) => r.visit.files))].map((f) => `\`${f}\``).join(', ')}`);
  const md =
    `### Cold start: \`AuthMedia.init\` / \`register()\` → first authenticated 96×96 thumbnail (${COLD_ROUNDS} rounds, fresh profile, traced)\n\n` +
    `The page wasm is instantiated before t0 (for authmedia); t0 is just before \`AuthMedia.init\` (or \`register()\` for the minimal worker). ` +
    `Median (range) over the rounds; the run is traced (categories ${COLD_CATEGORIES.map((c) => `\`${c}\``).join(', ')}), which slows every variant a little.\n\n` +
    table(['measure', ...order.map((v) => NAMES[v])], rows) +
    '\n\n' + table(RATIO_HEAD, diffs) +
    `\n\nBreakdown from the same traces: ms after t0, "start → end (duration)", medians; one clock for page marks and browser/worker events:\n\n` +
    table(['step', ...order.map((v) => NAMES[v])], stepRows) +
    `\n\nFiles of the first visit: \n${files.map((f) => `- ${f}`).join('\n')}`;
  return { md, runs };
}

async function urlSection(world) {
  const order = ['base-fb', 'head-fb'];
  const runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of rotate(order, round)) {
      const b = await openBrowser(SITES[VARIANTS[v].site], world);
      try {
        await evaluate(b, () => window.bench.setup('e'));
        const r = await evaluate(b, ([m, n]) => window.bench.coreSpeed(m, n), [world.post.slice(0, 200), URL_ITER]);
        runs.push({ round, variant: v === 'base-fb' ? 'base' : 'head', ...r });
        log(`url round ${round} ${v}: ${Object.entries(r.nsPerCall).map(([k2, x]) => `${k2} ${fmt(x)} ns`).join('; ')}`);
      } finally {
        await b.close();
      }
    }
  }
  const keys = Object.keys(runs[0]?.nsPerCall ?? {});
  const rows = [];
  for (const v of ['base', 'head']) {
    const rs = runs.filter((r) => r.variant === v);
    for (const k2 of keys) {
      rows.push([`${LABEL[v]}: ${k2}`, fmt(median(rs.map((r) => r.nsPerCall[k2])) / 1000, 2), range(rs.map((r) => r.nsPerCall[k2] / 1000), 2),
        fmt(median(rs.map((r) => r.firstCallUs[k2])), 0), rs.map((r) => fmt(r.firstCallUs[k2], 0)).join(' ')]);
    }
  }
  const per = (k2) => (r) => r.nsPerCall[k2];
  const within = (v, kind) => {
    const rs = runs.filter((r) => r.variant === v).map((r) => r.nsPerCall[`js-sdk getHttpUriForMxc, ${kind}`] / r.nsPerCall[`authmedia httpUrl (wasm), ${kind}`]);
    return ratioRow(`${LABEL[v]}: js-sdk / authmedia, ${kind} (same page)`, rs);
  };
  const ratios = [
    within('base', 'thumbnail'), within('head', 'thumbnail'), within('base', 'download'), within('head', 'download'),
    ratioRow('head / base, httpUrl thumbnail', paired(runs, 'head', 'base', per('authmedia httpUrl (wasm), thumbnail'))),
    ratioRow('head / base, httpUrl download', paired(runs, 'head', 'base', per('authmedia httpUrl (wasm), download'))),
  ];
  const md =
    `### URL building in a page: \`media.httpUrl()\` vs matrix-js-sdk \`getHttpUriForMxc\` (${ROUNDS} rounds, fresh page per build and round)\n\n` +
    `Repeated: ${URL_ITER} calls × 7 interleaved passes over the same 200 mxc URIs, median per page. First call: the first call of each ` +
    `case in a fresh page right after \`AuthMedia.init\` (\`performance.now()\`, which Chromium coarsens to 100 µs outside cross-origin isolation: ` +
    `read "0" and "100" as "below 100 µs" and "about 100 µs").\n\n` +
    table(['call', 'repeated µs/call, median', 'range', 'first call µs, median', 'first call runs'], rows) +
    '\n\n' + table(RATIO_HEAD, ratios);
  return { md, runs };
}

// ---------------------------------------------------------------------------------------------
async function main() {
  const started = Date.now();
  if (!BASE_NPM) {
    console.error('BASE_NPM is not set: the directory of the base build of the npm package (scripts/bench-compare.sh builds it)');
    process.exit(2);
  }
  for (const dir of [BASE_NPM, HEAD_NPM]) {
    const missing = packageMissing(dir);
    if (missing) {
      console.error(`${missing} is missing: build the package there first (scripts/build.sh)`);
      process.exit(2);
    }
  }
  const sections = [];
  const results = { rounds: ROUNDS, n: N_GALLERY, labels: LABEL, baseNpm: BASE_NPM, headNpm: HEAD_NPM };
  if (ONLY.has('sizes')) {
    results.sizes = { base: packageFiles(BASE_NPM), head: packageFiles(HEAD_NPM) };
    sections.push(sizesSection(results.sizes));
  }
  const browser = ['gallery', 'cpu', 'cold', 'url'].filter((s) => ONLY.has(s));
  if (browser.length) {
    log('starting Synapse and uploading media…');
    // No pre-freeze set (no legacy floor here); every thumbnail the runs ask for is warmed.
    const world = await startBenchWorld({ nPre: 0, nPost: N_GALLERY + 20, warmExtra: N_GALLERY + 20, log });
    SITES = { base: await startSite({ npmDir: BASE_NPM }), head: await startSite({ npmDir: HEAD_NPM }) };
    try {
      // Cold start first: its first-visit sizes go next to the static sizes.
      if (ONLY.has('cold')) { const s = await coldSection(world); sections.push(s.md); results.cold = s.runs; }
      if (ONLY.has('gallery')) { const s = await gallerySection(world); sections.push(s.md); results.gallery = s.runs; }
      if (ONLY.has('cpu')) { const s = await cpuSection(world); sections.push(s.md); results.cpu = s.runs; }
      if (ONLY.has('url')) { const s = await urlSection(world); sections.push(s.md); results.url = s.runs; }
    } finally {
      for (const s of Object.values(SITES)) await closeSite(s);
      await world.stop();
    }
  }
  const m = machine();
  const header =
    `## Before/after ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — ${LABEL.base} vs ${LABEL.head}, ${ROUNDS} rounds (cold start ${COLD_ROUNDS}); ` +
    `${m.chromium}, ${m.cpus} × ${m.cpuModel}, ${m.memGB} GB, load average at the end ${m.loadavg.join(' ')}, Node ${m.node}, ` +
    `took ${Math.round((Date.now() - started) / 1000)} s`;
  const text = `${header}\n\n${sections.join('\n\n')}\n`;
  console.log(text);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, 'compare.md'), text);
  writeFileSync(path.join(RESULTS, 'compare.json'), JSON.stringify({ date: new Date().toISOString(), machine: m, ...results }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
