/**
 * Chromium traces through a page's CDP session (the trace covers every process and thread of the
 * browser, the service worker's thread included), and what bench/compare.mjs reads from them.
 *
 *   startTrace(session, categories) → Promise<stop: () => Promise<event[]>>
 *   CPU_CATEGORIES, COLD_CATEGORIES: what the two measurements record
 *   workerCpu(events, fromMark, toMark) → { threadMs, wallMs, tasks, sampledMs, byKind }
 *     a BREAKDOWN of the "ServiceWorker thread"'s work (bench/compare.mjs PROFILE=1); the CPU
 *     figure itself comes from the kernel, untraced (bench/lib/thread-cpu.mjs), because tracing
 *     these categories costs the traced thread CPU too. threadMs: the sum of the thread's
 *     top-level tasks' thread durations (`tdur`) that start between the two User Timing marks of
 *     the page — the tasks are the `RunTask` events of `disabled-by-default-devtools.timeline`,
 *     which wrap every task; `ThreadControllerImpl::RunTask` (`toplevel`) wraps only the mojo
 *     tasks, not the Blink-scheduled ones where the worker's JS and wasm run; wallMs the same
 *     tasks' wall time; byKind: the V8 CPU profiler's samples inside those tasks (ms of wall
 *     time), by the function on top of the stack: wasm,
 *   coldTimeline(events) → { [step]: { start, end } } in ms after the page's `bench:t0` mark: the
 *     COLD_STEPS, then every User Timing mark named "authmedia…" (page or worker) as "mark: <name>".
 */

/** Every task of a thread with its thread CPU time, and the V8 sampling profiler (a breakdown: both cost CPU). */
export const CPU_CATEGORIES = ['toplevel', 'disabled-by-default-devtools.timeline', 'blink.user_timing', 'disabled-by-default-v8.cpu_profiler', '__metadata'];
/** Service-worker lifecycle in the browser and worker, resource events, wasm compilation, page marks. */
export const COLD_CATEGORIES = ['ServiceWorker', 'blink.user_timing', 'devtools.timeline', 'v8.wasm', 'disabled-by-default-v8.wasm', '__metadata'];

export async function startTrace(session, categories) {
  const events = [];
  const onData = (e) => { for (const x of e.value) events.push(x); };
  session.on('Tracing.dataCollected', onData);
  await session.send('Tracing.start', { transferMode: 'ReportEvents', traceConfig: { includedCategories: categories, recordMode: 'recordAsMuchAsPossible' } });
  return async () => {
    const complete = new Promise((r) => session.once('Tracing.tracingComplete', r));
    await session.send('Tracing.end');
    await complete;
    session.off('Tracing.dataCollected', onData);
    return events;
  };
}

const key = (e) => `${e.pid}:${e.tid}`;
function threadNames(events) {
  const names = new Map();
  for (const e of events) if (e.name === 'thread_name' && e.ph === 'M') names.set(key(e), e.args?.name);
  return names;
}
/** The first User Timing mark named `name` (trace clock, µs). Marks are instant or async-begin events. */
function markTs(events, name) {
  const m = events.find((e) => e.name === name && (e.cat ?? '').includes('blink.user_timing'));
  return m ? m.ts : NaN;
}

export function workerCpu(events, fromMark, toMark) {
  const names = threadNames(events);
  const from = markTs(events, fromMark);
  const to = markTs(events, toMark);
  const swThreads = new Set([...names].filter(([, n]) => n === 'ServiceWorker thread').map(([k]) => k));
  const inWindow = (ts) => ts >= from && ts <= to;
  let threadUs = 0;
  let wallUs = 0;
  const taskSpans = [];
  // Top-level tasks only: a `ThreadControllerImpl::RunTask` sits inside a `RunTask` when both are traced.
  const xs = events
    .filter((e) => e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask') && swThreads.has(key(e)) && inWindow(e.ts))
    .sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
  let end = -Infinity;
  for (const e of xs) {
    if (e.ts < end) continue;
    end = e.ts + (e.dur ?? 0);
    threadUs += e.tdur ?? 0;
    wallUs += e.dur ?? 0;
    taskSpans.push([e.ts, end]);
  }
  const tasks = taskSpans.length;
  taskSpans.sort((a, b) => a[0] - b[0]);
  // Samples count only inside the thread's tasks: between tasks the profiler may still report the
  // last VM state (a stale "fetch" or anonymous frame) instead of "(idle)".
  const inTask = (ts) => {
    let lo = 0;
    let hi = taskSpans.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (taskSpans[mid][0] > ts) hi = mid - 1;
      else if (taskSpans[mid][1] < ts) lo = mid + 1;
      else return true;
    }
    return false;
  };
  // V8 CPU profile of the worker's isolate: "Profile" (on the worker thread) names the id, its
  // "ProfileChunk"s (on a profiler thread) carry nodes, samples and time deltas.
  const profileIds = new Set(events.filter((e) => e.name === 'Profile' && swThreads.has(key(e))).map((e) => `${e.pid}:${e.id}`));
  const nodes = new Map();
  const byKind = { wasm: 0, js: 0, api: 0, anon: 0, gc: 0, other: 0 };
  let startTime = NaN;
  for (const e of events.filter((x) => x.name === 'Profile' && swThreads.has(key(x)))) startTime = e.args?.data?.startTime ?? startTime;
  let t = startTime;
  const chunks = events.filter((e) => e.name === 'ProfileChunk' && profileIds.has(`${e.pid}:${e.id}`)).sort((a, b) => a.ts - b.ts);
  for (const c of chunks) {
    const p = c.args?.data?.cpuProfile ?? {};
    for (const n of p.nodes ?? []) nodes.set(n.id, n.callFrame);
    const samples = p.samples ?? [];
    const deltas = c.args?.data?.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      t += deltas[i] ?? 0;
      const next = deltas[i + 1] ?? 0; // a sample stands for the time until the next one
      if (!inWindow(t) || !inTask(t)) continue;
      const f = nodes.get(samples[i]) ?? {};
      const fn = f.functionName ?? '';
      let kind;
      if (fn === '(idle)' || fn === '(root)') continue;
      if (fn === '(garbage collector)') kind = 'gc';
      else if (f.codeType === 'wasm' || (f.url ?? '').startsWith('wasm://')) kind = 'wasm';
      else if (f.codeType === 'JS' && f.url && !/^(js-to-wasm|wasm-to-js)/.test(fn)) kind = 'js';
      else if (f.codeType === 'JS' && fn) kind = 'api'; // built-ins and Web APIs (fetch, Headers, TextDecoder…), wasm↔JS wrappers
      else if (f.codeType === 'JS') kind = 'anon'; // a frame with neither name nor script: V8-internal JS (e.g. promise jobs)
      else kind = 'other'; // "(program)": V8/Blink native work outside any JS or wasm frame
      byKind[kind] += next > 0 ? next : 0;
    }
  }
  const ms = (us) => us / 1000;
  const sampled = Object.values(byKind).reduce((a, b) => a + b, 0);
  return {
    threadMs: ms(threadUs),
    wallMs: ms(wallUs),
    tasks,
    windowMs: ms(to - from),
    sampledMs: ms(sampled),
    byKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, ms(v)])),
  };
}

/**
 * Steps of a cold start, each the first matching event at or after the page's `bench:t0` mark:
 * [label, begin event, end event (same name when it is a complete event)].
 */
export const COLD_STEPS = [
  ['page: GET /versions (authenticated, preflight included)', 'versions'],
  ['page: register() called', 'mark:bench:register'],
  ['browser: worker script download', 'ServiceWorkerNewScriptLoader::ServiceWorkerNewScriptLoader', 'ServiceWorkerNewScriptLoader::OnComplete'],
  ['worker: thread start → script evaluated', 'EmbeddedWorkerInstanceClientImpl::StartWorker', 'ServiceWorkerGlobalScopeProxy::DidEvaluateTopLevelScript'],
  ['worker: top-level script evaluation', 'ServiceWorkerGlobalScopeProxy::EvaluateTopLevelScript', 'ServiceWorkerGlobalScopeProxy::DidEvaluateTopLevelScript'],
  ['worker: wasm fetch (first .wasm request after t0)', 'wasmFetch'],
  ['worker: wasm compile (V8, streaming or not: first → last compile event)', 'wasmCompile'],
  ['worker: wasm instantiate', 'wasmInstantiate'],
  ['worker: lazy compilation of wasm functions until the image (Σ)', 'wasmLazy'],
  ['worker: install event → handled', 'ServiceWorkerGlobalScope::DispatchInstallEvent', 'ServiceWorkerGlobalScope::DidHandleInstallEvent'],
  ['worker: activate event → handled', 'ServiceWorkerGlobalScope::DispatchActivateEvent', 'ServiceWorkerGlobalScope::DidHandleActivateEvent'],
  ['page: controllerchange', 'mark:bench:controllerchange'],
  ['page: init()/setup resolved (session handed over)', 'mark:bench:ready'],
  ['page: image URL set', 'mark:bench:src'],
  ['page: first image loaded', 'mark:bench:image'],
];

export function coldTimeline(events) {
  const t0 = markTs(events, 'bench:t0');
  const after = events.filter((e) => e.ts >= t0).sort((a, b) => a.ts - b.ts);
  const rel = (us) => (us - t0) / 1000;
  const first = (name) => after.find((e) => e.name === name && e.ph !== 'E' && e.ph !== 'e');
  const span = (e) => {
    if (!e) return null;
    if (e.ph === 'X') return { start: rel(e.ts), end: rel(e.ts + (e.dur ?? 0)) };
    if (e.ph === 'b' || e.ph === 'B') {
      const end = after.find((x) => x.name === e.name && (x.ph === 'e' || x.ph === 'E') && x.ts >= e.ts && (e.id == null || x.id === e.id));
      return { start: rel(e.ts), end: end ? rel(end.ts) : rel(e.ts) };
    }
    return { start: rel(e.ts), end: rel(e.ts) };
  };
  // Resource events (devtools.timeline) carry the URL on the send and the id on the finish.
  const resource = (test) => {
    const send = after.find((e) => e.name === 'ResourceSendRequest' && test(e.args?.data?.url ?? ''));
    if (!send) return null;
    const id = send.args.data.requestId;
    const fin = after.find((e) => e.name === 'ResourceFinish' && e.args?.data?.requestId === id);
    return { start: rel(send.ts), end: fin ? rel(fin.ts) : rel(send.ts) };
  };
  const names = threadNames(events);
  const onSw = (e) => names.get(key(e)) === 'ServiceWorker thread';
  const swWasm = after.filter((e) => onSw(e) && (e.cat ?? '').includes('wasm'));
  const spanOf = (evs) => (evs.length ? { start: rel(Math.min(...evs.map((e) => e.ts))), end: rel(Math.max(...evs.map((e) => e.ts + (e.dur ?? 0)))) } : null);
  const imageTs = markTs(events, 'bench:image');
  const wasmCompile = () => spanOf(swWasm.filter((e) => /^wasm\.(StartStreamingCompilation|FinishStreaming|SyncCompile|AsyncCompile|Compile(?!Lazy)|BaselineFinished)/.test(e.name)));
  const wasmInstantiate = () => spanOf(swWasm.filter((e) => /^wasm\.(Async|Sync)Instantiate/.test(e.name)));
  const wasmLazy = () => {
    const evs = swWasm.filter((e) => e.name === 'wasm.CompileLazy' && e.ts <= imageTs);
    const s = spanOf(evs);
    return s && { ...s, total: evs.reduce((a, e) => a + (e.dur ?? 0), 0) / 1000 };
  };
  const out = {};
  for (const [label, begin, endName] of COLD_STEPS) {
    let s = null;
    if (begin === 'versions') s = resource((u) => u.includes('/_matrix/client/versions'));
    else if (begin === 'wasmFetch') s = resource((u) => u.endsWith('.wasm'));
    else if (begin === 'wasmCompile') s = wasmCompile();
    else if (begin === 'wasmInstantiate') s = wasmInstantiate();
    else if (begin === 'wasmLazy') s = wasmLazy();
    else if (begin.startsWith('mark:')) s = span(first(begin.slice(5)));
    else if (endName) {
      const b = first(begin);
      const e = b && after.find((x) => x.name === endName && x.ts >= b.ts);
      s = b ? { start: rel(b.ts), end: e ? rel(e.ts + (e.dur ?? 0)) : rel(b.ts) } : null;
    } else s = span(first(begin));
    out[label] = s;
  }
  // Marks the library itself sets (page or worker; names starting with "authmedia"), if any.
  for (const e of after) {
    const label = `mark: ${e.name}`;
    if ((e.cat ?? '').includes('blink.user_timing') && /^authmedia/.test(e.name) && !(label in out)) out[label] = span(e);
  }
  return out;
}
