/**
 * An OAuth 2.0 token endpoint in front of Synapse's legacy refresh, so that matrix-js-sdk's own
 * token refresh can run against the test Synapse.
 *
 * Why: matrix-js-sdk (since its refresh rework, e.g. 43.x) refreshes tokens only for OAuth2-native
 * sessions (MSC2965/MSC3861: `oauthClientId` + the homeserver's `/_matrix/client/v1/auth_metadata`
 * → the auth server's `token_endpoint`, refresh-token grant). A homeserver delegating to MAS works
 * that way; the test Synapse has no MAS, but it issues real refreshable tokens with a real,
 * short lifetime through `POST /_matrix/client/v3/refresh`. This proxy is the missing piece: it
 * forwards every request to Synapse unchanged, and adds
 *   GET  /_matrix/client/v1/auth_metadata   the auth server's metadata (endpoints on this proxy)
 *   POST /oauth2/token                      refresh-token grant → Synapse's /refresh (the tokens,
 *                                           rotation and expiry are Synapse's); other grants 400
 *   POST /oauth2/revoke                     200 (nothing to revoke on the legacy side)
 *
 * API:
 *   startOAuthShim({ target, host = '127.0.0.1', grantDelayMs = 0 }) → Promise<{ origin, url(path), grants, forwarded, close() }>
 *     target: Synapse's origin. `grants`: one record per refresh grant,
 *     { ok, status, refreshTokenIn, accessTokenOut?, refreshTokenOut?, errcode? }.
 *     `forwarded`: { method, path } of every request passed on to Synapse.
 */
import http from 'node:http';
import { listen } from '../../support/procs.mjs';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'transfer-encoding']);

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization, Accept',
};

function json(res, status, body) {
  res.writeHead(status, { ...CORS, 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOAuthShim({ target, host = '127.0.0.1', grantDelayMs = 0 }) {
  const upstream = new URL(target);
  /** @type {any[]} */
  const grants = [];
  /** @type {{method: string, path: string}[]} */
  const forwarded = [];
  let origin = '';

  const metadata = () => ({
    issuer: `${origin}/`,
    authorization_endpoint: `${origin}/oauth2/authorize`,
    token_endpoint: `${origin}/oauth2/token`,
    revocation_endpoint: `${origin}/oauth2/revoke`,
    registration_endpoint: `${origin}/oauth2/register`,
    response_types_supported: ['code'],
    response_modes_supported: ['query', 'fragment'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
  });

  async function token(req, res) {
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    if (form.get('grant_type') !== 'refresh_token') return json(res, 400, { error: 'unsupported_grant_type' });
    const refreshToken = form.get('refresh_token') ?? '';
    // A slow identity provider (a real one across the internet): the grant answers after
    // `grantDelayMs`, so a refresh takes longer than a worker's usual wait for a tab's answer.
    if (grantDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, grantDelayMs));
    const r = await fetch(`${target}/_matrix/client/v3/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      grants.push({ ok: false, status: r.status, refreshTokenIn: refreshToken, errcode: body.errcode });
      // RFC 6749 § 5.2: a refused refresh token is invalid_grant.
      return json(res, 400, { error: 'invalid_grant', error_description: `${body.errcode}: ${body.error}` });
    }
    grants.push({ ok: true, status: r.status, refreshTokenIn: refreshToken, accessTokenOut: body.access_token, refreshTokenOut: body.refresh_token });
    return json(res, 200, {
      token_type: 'Bearer',
      access_token: body.access_token,
      refresh_token: body.refresh_token,
      expires_in: Math.floor((body.expires_in_ms ?? 0) / 1000),
    });
  }

  function forward(req, res) {
    forwarded.push({ method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0] });
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    headers.host = upstream.host;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (ur) => {
      const out = {};
      for (const [k, v] of Object.entries(ur.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) json(res, 502, { errcode: 'M_UNKNOWN', error: 'upstream unreachable' });
      else res.destroy();
    });
    req.pipe(up);
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith('/oauth2/') && req.method === 'OPTIONS') {
      res.writeHead(204, CORS);
      return res.end();
    }
    if (path === '/_matrix/client/v1/auth_metadata' && req.method !== 'OPTIONS') return json(res, 200, metadata());
    if (path === '/oauth2/token' && req.method === 'POST') {
      return token(req, res).catch((e) => json(res, 500, { error: 'server_error', error_description: String(e) }));
    }
    if (path === '/oauth2/revoke' && req.method === 'POST') {
      return readBody(req).then(() => json(res, 200, {}));
    }
    return forward(req, res);
  });
  ({ origin } = await listen(server, { host }));
  const port = Number(new URL(origin).port);
  return {
    origin,
    port,
    url: (p) => `${origin}${p}`,
    grants,
    forwarded,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
