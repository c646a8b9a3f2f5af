// The drop-in worker (mode 1) with a store budget taken from its own URL, `?budget=<bytes>`: the
// load test's small-budget phase (tests/e2e/load.test.mjs) registers /load/load-sw.js?budget=….
const budget = Number(new URL(self.location.href).searchParams.get('budget'));
self.AUTHMEDIA_SW_OPTIONS = { wasmUrl: '/dist/authmedia_sw_bg.wasm', ...(budget > 0 ? { storeBudgetBytes: budget } : {}) };
importScripts('/dist/authmedia-sw.js');
