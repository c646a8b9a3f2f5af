// Test worker for "a trapped wasm instance is replaced": authmedia in mode 2, with its wasm→JS
// imports wrapped so that, when armed, the first one handed a `Request` (reading the fetch's
// request: done on every handled fetch) throws a WebAssembly.RuntimeError from inside a wasm call.
// Matched by argument, not by name: the shipped build shortens import names.
// The wasm frames unwind mid-call exactly as on a trap (and may leave its state inconsistent, as a
// trap does); the entry script must notice, answer with an error, and instantiate a fresh instance.
let armed = false;
let instances = 0;
const realInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = function (module, imports) {
  instances += 1;
  for (const ns of Object.values(imports || {})) {
    for (const name of Object.keys(ns)) {
      const real = ns[name];
      if (typeof real !== 'function') continue;
      ns[name] = function (...args) {
        if (armed && args.some((a) => a instanceof Request)) {
          armed = false;
          throw new WebAssembly.RuntimeError('simulated trap (test)');
        }
        return real.apply(this, args);
      };
    }
  }
  return realInstantiate.call(this, module, imports);
};

self.AUTHMEDIA_SW_OPTIONS = { registerListeners: false, wasmUrl: '/dist/authmedia_sw_bg.wasm' };
importScripts('/dist/authmedia-sw.js');

self.addEventListener('install', (event) => event.waitUntil(self.skipWaiting()));
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  self.authmedia.handleFetch(event);
});
self.addEventListener('message', (event) => {
  if (self.authmedia.handleMessage(event)) return;
  const port = event.ports[0];
  if (!port) return;
  if (event.data === 'arm-trap') {
    armed = true;
    port.postMessage({ armed });
  } else if (event.data === 'instances') {
    port.postMessage({ instances, armed });
  }
});
