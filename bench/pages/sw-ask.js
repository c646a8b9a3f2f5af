// Benchmark alternative (c): the approach of the most widely used Matrix web client. The worker
// keeps no token: on EVERY media request it asks the page (postMessage + MessageChannel) for the
// homeserver and access token, checks once per homeserver origin (cached 2 h) that /versions
// advertises v1.11 (authenticated media), then fetches with the Authorization header.
// Not part of authmedia.
const support = new Map(); // homeserver → { ok: Promise<boolean>, expires }

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

async function askPage(clientId) {
  const client = await self.clients.get(clientId);
  if (!client) return null;
  const channel = new MessageChannel();
  const answer = new Promise((resolve) => { channel.port1.onmessage = (m) => resolve(m.data); });
  client.postMessage({ type: 'bench:config?' }, [channel.port2]);
  return answer;
}

function supportsAuthedMedia(homeserver, token) {
  const hit = support.get(homeserver);
  if (hit && hit.expires > Date.now()) return hit.ok;
  const ok = fetch(`${homeserver}/_matrix/client/versions`, {
    headers: { Authorization: `Bearer ${token}` },
    mode: 'cors',
    credentials: 'same-origin',
  })
    .then((r) => r.json())
    .then((v) => Array.isArray(v.versions) && v.versions.includes('v1.11'))
    .catch(() => false);
  support.set(homeserver, { ok, expires: Date.now() + 2 * 3600 * 1000 });
  return ok;
}

async function handle(request, clientId) {
  const config = await askPage(clientId);
  if (!config || !config.token || !request.url.startsWith(`${config.homeserver}/`)) return fetch(request);
  if (!(await supportsAuthedMedia(config.homeserver, config.token))) return fetch(request);
  return fetch(request.url, {
    headers: { Authorization: `Bearer ${config.token}` },
    mode: 'cors',
    credentials: 'same-origin',
  });
}

self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET' || !e.request.url.includes('/_matrix/client/v1/media/')) return;
  e.respondWith(handle(e.request, e.clientId));
});
