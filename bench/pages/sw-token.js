// Benchmark alternative (b): a minimal hand-written service worker that holds the access token
// and adds the Authorization header to authenticated media requests of its homeserver.
// Not part of authmedia. The page posts {type: 'bench:token', token, homeserver} once; after a
// worker restart (its memory is gone) it asks the page once and keeps the answer.
let config = null; // { token, homeserver }
let asking = null;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('message', (e) => {
  if (e.data && e.data.type === 'bench:token') {
    config = { token: e.data.token, homeserver: e.data.homeserver };
    if (e.ports[0]) e.ports[0].postMessage({ ok: true });
  }
});

async function askPage(clientId) {
  const client = await self.clients.get(clientId);
  if (!client) return null;
  const channel = new MessageChannel();
  const answer = new Promise((resolve) => { channel.port1.onmessage = (m) => resolve(m.data); });
  client.postMessage({ type: 'bench:config?' }, [channel.port2]);
  return answer;
}

async function authenticated(request, clientId) {
  if (!config) {
    asking ??= askPage(clientId).finally(() => { asking = null; });
    config = (await asking) ?? config;
  }
  return fetch(request.url, {
    headers: { Authorization: `Bearer ${config.token}` },
    mode: 'cors',
    credentials: 'same-origin',
  });
}

self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET' || !e.request.url.includes('/_matrix/client/v1/media/')) return;
  if (config && !e.request.url.startsWith(`${config.homeserver}/_matrix/client/v1/media/`)) return;
  e.respondWith(authenticated(e.request, e.clientId));
});
