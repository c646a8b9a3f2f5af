// The drop-in worker (npm/sw/authmedia-sw.js, copied to the site root by tests/pages/page/site.mjs)
// with test options taken from this script's own query, e.g. /faults-sw.js?fetchTimeoutMs=3000:
// every query parameter becomes a numeric option of self.AUTHMEDIA_SW_OPTIONS (used by
// tests/e2e/faults.test.mjs). Listeners stay the entry script's own (registerListeners default).
const options = { wasmUrl: '/authmedia_sw_bg.wasm' };
for (const [name, value] of new URL(self.location.href).searchParams) options[name] = Number(value);
self.AUTHMEDIA_SW_OPTIONS = options;
importScripts('/authmedia-sw.js');
