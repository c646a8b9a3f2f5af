// Test worker for "a trapped wasm instance is replaced": authmedia in mode 2, with one wasm→JS
// import wrapped so that, when armed, it throws a WebAssembly.RuntimeError from inside a wasm call.
// The wasm frames unwind mid-call exactly as on a trap (and may leave its state inconsistent, as a
// trap does); the entry script must notice, answer with an error, and instantiate a fresh instance.
let armed = false;
let instances = 0;
const realInstantiate = WebAssembly.instantiate;
WebAssembly.instantiate = function (module, imports) {
  instances += 1;
  for (const ns of Object.values(imports || {})) {
    for (const name of Object.keys(ns)) {
      if (!name.startsWith('__wbg_url_')) continue; // Request.url: read on every handled fetch
      const real = ns[name];
      ns[name] = function (...args) {
        if (armed) {
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
