// A site's own service worker that embeds authmedia (mode 2 of the README, "Service worker"):
// authmedia registers no listeners of its own; this worker routes to it first.
// `?wasm=<url>` lets a test point it at a wasm that does not exist.
const wasmUrl = new URL(self.location.href).searchParams.get('wasm') || '/dist/authmedia_sw_bg.wasm';
self.AUTHMEDIA_SW_OPTIONS = { registerListeners: false, wasmUrl };
importScripts('/dist/authmedia-sw.js');

self.addEventListener('install', (event) => event.waitUntil(self.skipWaiting()));
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  if (self.authmedia.handleFetch(event)) return;
  if (new URL(event.request.url).pathname === '/host-probe') {
    event.respondWith(new Response('answered by the host worker', { headers: { 'cache-control': 'no-store' } }));
  }
});
self.addEventListener('message', (event) => {
  if (self.authmedia.handleMessage(event)) return;
  if (event.data === 'host-ping' && event.ports[0]) event.ports[0].postMessage('host-pong');
});
