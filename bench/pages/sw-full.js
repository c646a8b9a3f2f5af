// Benchmark reference (not part of authmedia): the minimal worker of sw-token.js doing, per media
// request, the same browser-side work the authmedia worker does — a new `Request` with the
// header, `mode: 'cors'`, `cache: 'no-store'` and an abort signal with a stall timer, the whole
// body read with `blob()`, and a new `Response` with the protective headers — and nothing else
// (no classification, sessions, single-flight, store, retries or `Range`). The figure it gives is
// the floor of this design written in plain JavaScript; the gap to the authmedia worker is what
// its wasm path costs on top.
let config = null; // { token, homeserver }

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('message', (e) => {
  if (e.data && e.data.type === 'bench:token') {
    config = { token: e.data.token, homeserver: e.data.homeserver };
    if (e.ports[0]) e.ports[0].postMessage({ ok: true });
  }
});

self.addEventListener('fetch', (e) => {
  if (!config || e.request.method !== 'GET') return;
  if (!e.request.url.startsWith(`${config.homeserver}/_matrix/client/v1/media/`)) return;
  e.respondWith(authenticated(e.request));
});

async function authenticated(request) {
  const headers = new Headers({ authorization: `Bearer ${config.token}` });
  for (const name of ['accept', 'accept-language']) {
    const value = request.headers.get(name);
    if (value) headers.set(name, value);
  }
  const abort = new AbortController();
  const stall = setTimeout(() => abort.abort(new Error('stalled')), 30_000);
  try {
    const upstream = await fetch(new Request(request.url, {
      method: 'GET', headers, mode: 'cors', credentials: 'same-origin', cache: 'no-store', redirect: 'follow', signal: abort.signal,
    }));
    const type = upstream.headers.get('content-type');
    const body = await upstream.blob();
    const answer = new Headers({
      'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': 'sandbox',
      'accept-ranges': 'bytes', 'content-length': String(body.size),
    });
    if (type) answer.set('content-type', type);
    return new Response(body, { status: upstream.status, headers: answer });
  } finally {
    clearTimeout(stall);
  }
}
