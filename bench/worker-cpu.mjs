#!/usr/bin/env node
// Worker thread CPU for a gallery of N distinct 96×96 thumbnails: authmedia's service worker
// (npm/sw, built by scripts/build.sh) against the minimal hand-written token worker
// (bench/pages/sw-token.js). Same world as bench/run.mjs (bench/lib/world.mjs: private Synapse,
// thumbnails warmed), headless Chromium, a fresh profile per run, variants interleaved per round.
//
// The figure is the CPU time (thread time, `tdur`) of the top-level tasks the trace records on the
// thread named "ServiceWorker thread", from just before the images are inserted until every one
// has loaded; the worker is installed and controlling before the trace starts (its install and
// wasm compile are not counted). Timings never fail anything; the exit code is non-zero only when
// a run could not be measured at all.
//
//   node bench/worker-cpu.mjs                       ROUNDS=5, N_GALLERY=200
//   ROUNDS=3 node bench/worker-cpu.mjs
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBenchWorld } from './lib/world.mjs';
import { launchChromium, cdp } from '../tests/lib/browser.mjs';
import { startStaticServer } from '../support/static-server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const N_GALLERY = Number(process.env.N_GALLERY ?? 200);
const log = (...a) => console.error(`[worker-cpu ${new Date().toISOString().slice(11, 19)}]`, ...a);
const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

const PROFILE = process.env.PROFILE === '1';
const CATEGORIES = ['toplevel', 'disabled-by-default-devtools.timeline', 'devtools.timeline', 'v8',
  ...(PROFILE ? ['disabled-by-default-v8.cpu_profiler'] : [])];

/** Traces `fn()` and returns the collected events (browser-wide: every process and thread). */
async function traced(session, fn) {
  const events = [];
  session.on('Tracing.dataCollected', (e) => events.push(...e.value));
  const complete = new Promise((resolve) => session.once('Tracing.tracingComplete', resolve));
  await session.send('Tracing.start', { traceConfig: { includedCategories: CATEGORIES }, transferMode: 'ReportEvents' });
  const result = await fn();
  await session.send('Tracing.end');
  await complete;
  return { events, result };
}

/** CPU ms of the top-level (not nested) complete events on every "ServiceWorker thread". */
function workerCpu(events) {
  const threads = new Set(
    events
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && /ServiceWorker thread/.test(e.args?.name ?? ''))
      .map((e) => `${e.pid}:${e.tid}`),
  );
  let cpuUs = 0;
  let wallUs = 0;
  let tasks = 0;
  const byName = {};
  for (const key of threads) {
    const xs = events
      .filter((e) => `${e.pid}:${e.tid}` === key && e.ph === 'X' && Number.isFinite(e.dur))
      .sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    let end = -Infinity;
    for (const e of xs) {
      if (e.ts < end) {
        // Nested in a top-level task: attribute its CPU to its own name, for the breakdown only.
        if (e.name !== 'RunTask' && Number.isFinite(e.tdur)) byName[e.name] = (byName[e.name] ?? 0) + e.tdur;
        continue;
      }
      end = e.ts + e.dur;
      tasks++;
      wallUs += e.dur;
      cpuUs += Number.isFinite(e.tdur) ? e.tdur : e.dur;
    }
  }
  return { threads: threads.size, cpuMs: cpuUs / 1000, wallMs: wallUs / 1000, tasks, byName, self: PROFILE ? selfTimes(events, threads) : null };
}

/** PROFILE=1: sampled self time (ms) per function on the worker threads, from the V8 CPU profiler's trace chunks. */
function selfTimes(events, threads) {
  const nodes = new Map();
  const self = {};
  // A `Profile` event is on the profiled thread; its `ProfileChunk`s (same id) on the sampler's.
  const ids = new Set(events.filter((e) => e.name === 'Profile' && threads.has(`${e.pid}:${e.tid}`)).map((e) => `${e.pid}:${e.id}`));
  for (const e of events) {
    if (e.name !== 'ProfileChunk' || !ids.has(`${e.pid}:${e.id}`)) continue;
    const data = e.args?.data ?? {};
    for (const n of data.cpuProfile?.nodes ?? []) {
      const f = n.callFrame ?? {};
      let name = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').pop() : ''}`.trim();
      // A builtin without a name: say who called it.
      if (name === '(anonymous)' && n.parent !== undefined) name += ` < ${nodes.get(`${e.id}:${n.parent}`) ?? '?'}`;
      nodes.set(`${e.id}:${n.id}`, name);
    }
    const samples = data.cpuProfile?.samples ?? [];
    const deltas = data.timeDeltas ?? [];
    samples.forEach((id, i) => {
      const name = nodes.get(`${e.id}:${id}`) ?? '?';
      self[name] = (self[name] ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    });
  }
  return self;
}

async function main() {
  const world = await startBenchWorld({ nPre: 1, nPost: N_GALLERY, warmExtra: N_GALLERY, log });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-worker-cpu-'));
  for (const f of readdirSync(path.join(HERE, 'pages'))) copyFileSync(path.join(HERE, 'pages', f), path.join(dir, f));
  for (const f of ['authmedia-sw.js', 'authmedia_sw_bg.wasm']) copyFileSync(path.join(ROOT, 'npm', 'sw', f), path.join(dir, f));
  const site = await startStaticServer({ root: dir, mounts: { '/pkg/': path.join(ROOT, 'npm') } });
  const mxcs = world.post.slice(0, N_GALLERY);
  const names = { b: 'minimal hand-written worker (sw-token.js)', d: 'authmedia worker' };
  const runs = { b: [], d: [] };
  let broken = false;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of round % 2 ? ['d', 'b'] : ['b', 'd']) {
        const b = await launchChromium();
        try {
          await b.page.goto(site.url('/'));
          await b.page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
          await b.page.evaluate((c) => window.bench.setConfig(c), { homeserver: world.baseUrl, token: world.token, userId: world.userId });
          await b.page.evaluate((v) => window.bench.setup(v), v);
          const session = await cdp(b.page);
          const { events, result } = await traced(session, () => b.page.evaluate(([v, m]) => window.bench.gallery(v, m), [v, mxcs]));
          const cpu = workerCpu(events);
          if (!cpu.threads || result.ok !== mxcs.length) broken = true;
          runs[v].push({ ...cpu, galleryMs: result.ms, ok: result.ok });
          const top = Object.entries(cpu.byName).sort((x, y) => y[1] - x[1]).slice(0, 4)
            .map(([k, us]) => `${k} ${(us / 1000).toFixed(0)}`).join(', ');
          if (cpu.self) {
            const rows = Object.entries(cpu.self).sort((x, y) => y[1] - x[1]).slice(0, 40);
            log(`round ${round} ${v}: sampled self time (ms)\n${rows.map(([k, ms]) => `  ${ms.toFixed(1).padStart(7)}  ${k}`).join('\n')}`);
          }
          log(`round ${round} ${v}: worker CPU ${cpu.cpuMs.toFixed(0)} ms (${cpu.tasks} tasks, busy ${cpu.wallMs.toFixed(0)} ms; ${top}) gallery ${result.ms.toFixed(0)} ms ok=${result.ok}`);
        } finally {
          await b.close();
        }
      }
    }
  } finally {
    await site.close();
    await world.stop();
  }
  const med = Object.fromEntries(Object.entries(runs).map(([v, rs]) => [v, median(rs.map((r) => r.cpuMs))]));
  const ratios = runs.d.map((r, i) => r.cpuMs / runs.b[i]?.cpuMs);
  console.log(`Worker thread CPU, gallery of ${N_GALLERY} thumbnails (medians of ${ROUNDS}, ms):`);
  for (const v of ['b', 'd']) {
    console.log(`  ${names[v].padEnd(44)} ${med[v].toFixed(0).padStart(6)}   runs: ${runs[v].map((r) => r.cpuMs.toFixed(0)).join(' ')}`);
  }
  console.log(`  authmedia / minimal, paired: median ${median(ratios).toFixed(2)}× (${ratios.map((x) => x.toFixed(2)).join(' ')}); target ≤ 1.5×`);
  if (broken) {
    console.error('worker-cpu: a run had no service-worker thread in its trace or not every image loaded');
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
