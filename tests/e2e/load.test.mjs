/**
 * Load through the drop-in service worker: 1000 concurrent media requests from one tab —
 * 200 distinct PNGs uploaded to the real Synapse, each as a download and a 32×32 thumbnail (400
 * distinct URLs), every URL requested 2–3 times, fetch() and <img> mixed — with the fault proxy
 * (no faults) between the worker and Synapse counting what the worker sends upstream.
 *
 * Three phases on one browser:
 *   cold       the worker has the tab's session (authmedia:session) and an empty store
 *   warm       the same URLs again: answered from the store, nothing upstream
 *   restarted  after CDP ServiceWorker.stopAllWorkers: a fresh worker (empty memory) must ask the
 *              tab for its session once — not once per request — and fetch each URL once again
 *   small store  a new browser whose worker has a 256 KiB store budget (the bodies total ~2 MiB): the
 *              store evicts under load and stays within its budget, and every request still succeeds
 * Each phase: every request succeeds with the right bytes (SHA-256 of the body for fetch(); the
 * natural size for <img>), each distinct URL reaches Synapse at most once, the worker asked the page
 * for its session at most once per worker start (its `sessionAsks` counter and the page's own count
 * of need-session messages), and the worker's store and wasm memory stay under their budgets.
 *
 * The same scenario prints figures with scripts/load.sh (tests/load-report.mjs; RELIABILITY.md "Load").
 * Set AUTHMEDIA_SKIP_SW_BUILD=1 to use an existing sw/dist/ (scripts/build.sh already built it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { startLoadRig, formatPhases, loadWorker } from '../lib/load-scenario.mjs';

const REQUESTS = 1000;
const IMAGES = 200;
/**
 * Bound on the worker's wasm linear memory. Bodies live in JS ArrayBuffers outside wasm memory
 * (WORKER.md, "Range and the media store"); the wasm holds sessions, the store's index and
 * per-request state, so a thousand requests in flight must not grow it past a few MiB.
 */
const WASM_MEMORY_BOUND = 16 * 1024 * 1024;
const SMALL_BUDGET = 256 * 1024;

/** @type {Awaited<ReturnType<typeof startLoadRig>>} */
let rig;
/** @type {any[]} */
const phases = [];

before(async () => {
  if (process.env.AUTHMEDIA_SKIP_SW_BUILD !== '1' || !existsSync(path.join(REPO_ROOT, 'sw', 'dist', 'authmedia-sw.js'))) {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'build-sw.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const world = await loadWorld();
  rig = await startLoadRig({ world, images: IMAGES, log: (line) => console.log(`load: ${line}`) });
});

after(async () => {
  if (phases.length) console.log(formatPhases(phases));
  await rig?.close();
});

/** Context for an assertion message: the phase's figures, failures and the browser console. */
function why(phase) {
  const { upstreamByUrl, ...rest } = phase;
  return `\n${JSON.stringify({ ...rest, duplicatesUpstream: rest.duplicatesUpstream.slice(0, 5) }, null, 1)}\n--- console ---\n${rig.consoleLines.slice(-30).join('\n')}`;
}

/**
 * What every phase must show. `baseline`: the same worker instance's stats before the phase (its
 * counters are cumulative), or null for a fresh instance.
 */
function assertCommon(phase, baseline) {
  assert.equal(phase.failureCount, 0, `failed requests${why(phase)}`);
  assert.equal(phase.succeeded, REQUESTS);
  // Identical requests are never fetched twice: concurrent ones share one download, later ones hit the store.
  assert.deepEqual(phase.duplicatesUpstream, [], `URLs fetched more than once upstream${why(phase)}`);
  assert.deepEqual(phase.unexpectedUpstream, [], 'the worker fetched a URL nobody asked for');
  assert.equal(phase.otherUpstream, 0, `unexpected non-media requests upstream${why(phase)}`);

  const s = phase.stats;
  for (const field of ['upstream', 'deduped', 'sessionAsks', 'storeBytes', 'storeEntries', 'storeBudgetBytes', 'wasmMemoryBytes']) {
    assert.equal(typeof s[field], 'number', `authmedia:stats has no numeric "${field}": ${JSON.stringify(s)}`);
  }
  // The page was asked for its session at most once by this worker instance (counters are per instance)…
  assert.ok(s.sessionAsks <= 1, `sessionAsks ${s.sessionAsks}${why(phase)}`);
  // …and the page itself saw at most one question during the phase.
  assert.ok(phase.needSessionMessages <= 1, `need-session messages ${phase.needSessionMessages}${why(phase)}`);
  // Memory budgets.
  assert.ok(s.storeBudgetBytes > 0);
  assert.ok(s.storeBytes <= s.storeBudgetBytes, `store ${s.storeBytes} B over its budget ${s.storeBudgetBytes} B`);
  assert.ok(s.storeEntries > 0, 'the store kept nothing');
  assert.ok(s.wasmMemoryBytes > 0 && s.wasmMemoryBytes <= WASM_MEMORY_BOUND, `wasm memory ${s.wasmMemoryBytes} B (bound ${WASM_MEMORY_BOUND} B)`);
  // The worker's own count of upstream fetches during the phase agrees with the proxy (media GETs,
  // plus /versions if the worker negotiated).
  const upstream = s.upstream - (baseline?.upstream ?? 0);
  assert.equal(upstream, phase.upstreamMedia + phase.versions, `worker upstream ${upstream} in the phase vs proxy${why(phase)}`);
  assert.equal(s.inflight, 0, 'nothing left in flight once every request was answered');
}

test(`load: ${REQUESTS} concurrent requests (${IMAGES} images × download + thumbnail, fetch and <img>), cold worker`, { timeout: 120_000 }, async () => {
  const plan = rig.planRequests({ requests: REQUESTS, imgEvery: 5, seed: 1 });
  assert.equal(new Set(plan.map((r) => r.url)).size, IMAGES * 2);
  const phase = await rig.runPhase('cold', plan);
  phases.push(phase);
  assertCommon(phase, null);
  // Every distinct URL reached Synapse exactly once.
  assert.equal(phase.upstreamMedia, phase.distinct, `upstream media GETs${why(phase)}`);
  // This worker got the session from the page's authmedia:session message; if it asked at all, once.
  const s = phase.stats;
  // Repeats were served without a download of their own (joined an in-flight one, or from the store).
  // <img> repeats may be coalesced by the browser before they reach the worker, hence ≤.
  assert.ok(s.deduped + s.cacheHits <= REQUESTS - phase.distinct, `deduped ${s.deduped} + cacheHits ${s.cacheHits}`);
  assert.ok(s.deduped + s.cacheHits >= phase.fetches - phase.distinct, `deduped ${s.deduped} + cacheHits ${s.cacheHits}${why(phase)}`);
});

test(`load: the same ${REQUESTS} requests again are answered from the worker's store`, { timeout: 120_000 }, async () => {
  assert.ok(phases.length === 1, 'runs after the cold phase');
  const before = phases[0].stats;
  const phase = await rig.runPhase('warm', rig.planRequests({ requests: REQUESTS, seed: 2 }));
  phases.push(phase);
  assertCommon(phase, before);
  assert.equal(phase.upstreamMedia, 0, `nothing goes upstream for cached media${why(phase)}`);
  assert.equal(phase.stats.cacheHits - before.cacheHits, REQUESTS, `every fetch() a store hit${why(phase)}`);
  assert.equal(phase.stats.upstream, before.upstream);
  assert.equal(phase.needSessionMessages, 0);
});

test(`load: after the browser stops the worker, ${REQUESTS} requests make the new worker ask for the session once`, { timeout: 120_000 }, async () => {
  assert.ok(phases.length === 2, 'runs after the warm phase');
  await rig.stopWorker();
  const phase = await rig.runPhase('restarted', rig.planRequests({ requests: REQUESTS, seed: 3 }));
  phases.push(phase);
  assertCommon(phase, null);
  // Fresh memory: every URL fetched again, once.
  assert.equal(phase.upstreamMedia, phase.distinct, `upstream media GETs${why(phase)}`);
  // The restarted worker knew nothing about the tab: it asked exactly once, for all 1000 requests.
  assert.equal(phase.needSessionMessages, 1, `need-session messages${why(phase)}`);
  assert.equal(phase.stats.sessionAsks, 1, `sessionAsks${why(phase)}`);
  assert.ok(phase.stats.upstream <= phases[0].stats.upstream, 'counters restarted with the worker');
});

test(`load: ${REQUESTS} requests with a ${SMALL_BUDGET / 1024} KiB store budget: evictions, the store stays within it, all succeed`, { timeout: 120_000 }, async () => {
  assert.ok(phases.length === 3, 'runs after the restarted phase');
  await rig.relaunch(loadWorker({ budget: SMALL_BUDGET }));
  const phase = await rig.runPhase('small store', rig.planRequests({ requests: REQUESTS, seed: 4 }));
  phases.push(phase);
  assert.equal(phase.stats.storeBudgetBytes, SMALL_BUDGET, 'the worker took the budget option');
  assert.equal(phase.failureCount, 0, `failed requests${why(phase)}`);
  const s = phase.stats;
  assert.ok(s.storeBytes <= SMALL_BUDGET, `store ${s.storeBytes} B over its budget ${SMALL_BUDGET} B`);
  // The budget really bit: fewer entries than distinct URLs stayed.
  assert.ok(s.storeEntries < phase.distinct, `storeEntries ${s.storeEntries}: no eviction happened`);
  assert.ok(s.wasmMemoryBytes <= WASM_MEMORY_BOUND, `wasm memory ${s.wasmMemoryBytes} B`);
  // Every URL fetched at least once, evicted ones again later; concurrent identical requests still
  // share one download, so never more upstream fetches than requests.
  assert.ok(phase.upstreamMedia >= phase.distinct && phase.upstreamMedia <= REQUESTS, `upstream ${phase.upstreamMedia}${why(phase)}`);
  assert.equal(s.upstream, phase.upstreamMedia + phase.versions, `worker upstream vs proxy${why(phase)}`);
  assert.ok(s.sessionAsks <= 1 && phase.needSessionMessages <= 1, `session asks ${s.sessionAsks}/${phase.needSessionMessages}`);
  assert.equal(s.inflight, 0);
});
