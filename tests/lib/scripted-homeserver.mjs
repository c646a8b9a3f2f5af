/**
 * A scripted homeserver on loopback (HTTP/1.1), for answers Synapse cannot be made to give (paced
 * or truncated bodies, announced lengths that lie): CORS for any origin, `OPTIONS` preflights
 * answered 204, `GET …/_matrix/client/versions` (any path prefix) answering v1.11; every other request goes to
 * `media(req, res, url)` (default: 404), whose answers should carry `CORS` too.
 *
 *   const hs = await startScriptedHomeserver((req, res, url) => …);   // an http.Server, listening
 */
import http from 'node:http';
import { listen } from '../../support/procs.mjs';

export const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type',
  'Access-Control-Allow-Methods': 'GET, OPTIONS',
};

export async function startScriptedHomeserver(media = (_req, res) => res.writeHead(404, CORS).end()) {
  const hs = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'OPTIONS') return res.writeHead(204, CORS).end();
    // Also under a path prefix (a homeserver base of `http://host/prefix`).
    if (url.pathname.endsWith('/_matrix/client/versions')) {
      return res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' }).end(JSON.stringify({ versions: ['v1.11'] }));
    }
    return media(req, res, url);
  });
  await listen(hs);
  return hs;
}
