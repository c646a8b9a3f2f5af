/**
 * Tiny Matrix client-server helpers over fetch, for seeding and server-side checks in tests.
 * Every helper throws a `MatrixError` (with `status`, `errcode`, `body`) on a non-2xx answer.
 * The access token always travels in the Authorization header, never in a URL.
 *
 * API (base = homeserver base URL such as "http://127.0.0.1:8008", no trailing slash needed):
 *   request(base, path, { method, token, json, body, headers, query })  → parsed JSON (or {} when empty)
 *   registerUser(base, secret, name, password, { admin = false, displayName })
 *       → { userId, accessToken, deviceId }      via /_synapse/admin/v1/register (HMAC-SHA1)
 *   login(base, user, password, { deviceId })   → { userId, accessToken, deviceId }
 *   registerGuest(base)                          → { userId, accessToken, deviceId }
 *   whoami(base, token)                          → { user_id, device_id, is_guest? }
 *   logout(base, token)                          → revokes that token
 *   upload(base, token, bytes, contentType, filename?) → "mxc://server/mediaId"
 *   parseMxc(mxc)                                → { serverName, mediaId }
 *   createRoom(base, token, body = {})           → roomId
 *   joinRoom(base, token, roomIdOrAlias)         → roomId
 *   sendMessage(base, token, roomId, content, { type = 'm.room.message' }) → eventId
 *   setAvatar(base, token, userId, mxc)          → sets the profile avatar_url
 *   setDisplayName(base, token, userId, name)
 *   mediaUrl(base, mxc, { api = 'v1'|'legacy', kind = 'download'|'thumbnail', width, height, method, animated, filename })
 *       → an endpoint URL built naively here for tests (the library's own builder is authmedia-core).
 */
import { createHmac, randomUUID } from 'node:crypto';

export class MatrixError extends Error {
  /**
   * @param {number} status
   * @param {any} body
   * @param {string} what
   */
  constructor(status, body, what) {
    const errcode = body && typeof body === 'object' ? body.errcode : undefined;
    super(`${what}: HTTP ${status}${errcode ? ` ${errcode}` : ''}${body?.error ? ` (${body.error})` : ''}`);
    this.name = 'MatrixError';
    this.status = status;
    this.errcode = errcode;
    this.body = body;
  }
}

function joinUrl(base, path) {
  return `${String(base).replace(/\/+$/, '')}${path}`;
}

/**
 * Generic JSON request.
 * @param {string} base
 * @param {string} path  starts with "/"
 * @param {{method?: string, token?: string, json?: any, body?: BodyInit, headers?: Record<string,string>,
 *          query?: Record<string, string|number|boolean|undefined>}} [opts]
 */
export async function request(base, path, opts = {}) {
  const headers = { ...(opts.headers ?? {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  let url = joinUrl(base, path);
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    if (qs) url += `${url.includes('?') ? '&' : '?'}${qs}`;
  }
  const method = opts.method ?? (body !== undefined ? 'POST' : 'GET');
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let parsed = {};
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { raw: text };
    }
  }
  if (!res.ok) throw new MatrixError(res.status, parsed, `${method} ${path}`);
  return parsed;
}

/**
 * Register a user with the shared registration secret (admin API, no rate limit, no UIA).
 * @param {string} base
 * @param {string} secret  registration_shared_secret
 * @param {string} name    localpart
 * @param {string} password
 * @param {{admin?: boolean, displayName?: string}} [opts]
 */
export async function registerUser(base, secret, name, password, { admin = false, displayName } = {}) {
  const { nonce } = await request(base, '/_synapse/admin/v1/register');
  const mac = createHmac('sha1', secret)
    .update(nonce)
    .update('\x00')
    .update(name)
    .update('\x00')
    .update(password)
    .update('\x00')
    .update(admin ? 'admin' : 'notadmin')
    .digest('hex');
  const res = await request(base, '/_synapse/admin/v1/register', {
    json: { nonce, username: name, password, admin, mac, displayname: displayName },
  });
  return { userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id };
}

/** Password login; each call creates a new device and a new token. */
export async function login(base, user, password, { deviceId } = {}) {
  const res = await request(base, '/_matrix/client/v3/login', {
    json: {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user },
      password,
      device_id: deviceId,
      initial_device_display_name: 'authmedia tests',
    },
  });
  return { userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id };
}

/**
 * Password login asking for a refresh token (`refresh_token: true`): `{accessToken, refreshToken}`
 * of a new device. Throws when the server gives no refresh token.
 */
export async function refreshableLogin(base, user, password) {
  const res = await request(base, '/_matrix/client/v3/login', {
    json: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, refresh_token: true },
  });
  if (!res.access_token || !res.refresh_token) throw new Error(`no refreshable login: ${JSON.stringify(res)}`);
  return { accessToken: res.access_token, refreshToken: res.refresh_token };
}

/** `POST /refresh` of `refreshToken` (each works once): the next `{accessToken, refreshToken}`. */
export async function refreshLogin(base, refreshToken) {
  const res = await request(base, '/_matrix/client/v3/refresh', { json: { refresh_token: refreshToken } });
  if (!res.access_token) throw new Error(`no refresh: ${JSON.stringify(res)}`);
  return { accessToken: res.access_token, refreshToken: res.refresh_token };
}

/** Register a guest account (`kind=guest`). */
export async function registerGuest(base) {
  const res = await request(base, '/_matrix/client/v3/register', { json: {}, query: { kind: 'guest' } });
  return { userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id };
}

/** Who owns this token (throws MatrixError 401 for a revoked or unknown token). */
export function whoami(base, token) {
  return request(base, '/_matrix/client/v3/account/whoami', { token });
}

/** Revoke the token (log out that device). */
export async function logout(base, token) {
  await request(base, '/_matrix/client/v3/logout', { token, json: {} });
}

/**
 * Upload bytes; returns the mxc URI.
 * @param {string} base
 * @param {string} token
 * @param {Uint8Array|Buffer} bytes
 * @param {string} contentType
 * @param {string} [filename]
 */
export async function upload(base, token, bytes, contentType, filename) {
  const res = await request(base, '/_matrix/media/v3/upload', {
    method: 'POST',
    token,
    body: bytes,
    headers: { 'Content-Type': contentType },
    query: { filename },
  });
  if (typeof res.content_uri !== 'string') throw new Error(`upload: no content_uri in ${JSON.stringify(res)}`);
  return res.content_uri;
}

/**
 * Async upload, first step (`POST /_matrix/media/v1/create`): an mxc whose content comes later;
 * downloads of it wait (up to their `timeout_ms`) until {@link uploadTo} sends it.
 * @param {string} base
 * @param {string} token
 * @returns {Promise<string>} the mxc URI
 */
export async function createMedia(base, token) {
  const res = await request(base, '/_matrix/media/v1/create', { method: 'POST', token });
  if (typeof res.content_uri !== 'string') throw new Error(`create: no content_uri in ${JSON.stringify(res)}`);
  return res.content_uri;
}

/**
 * Async upload, second step: the content of an mxc made by {@link createMedia}
 * (`PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`).
 * @param {string} base
 * @param {string} token
 * @param {string} mxc
 * @param {Uint8Array|Buffer} bytes
 * @param {string} contentType
 * @param {string} [filename]
 */
export function uploadTo(base, token, mxc, bytes, contentType, filename) {
  const { serverName, mediaId } = parseMxc(mxc);
  return request(base, `/_matrix/media/v3/upload/${encodeURIComponent(serverName)}/${encodeURIComponent(mediaId)}`, {
    method: 'PUT',
    token,
    body: bytes,
    headers: { 'Content-Type': contentType },
    query: { filename },
  });
}

/** Split an mxc URI (test helper; no validation beyond the shape). */
export function parseMxc(mxc) {
  const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc);
  if (!m) throw new Error(`not an mxc URI: ${mxc}`);
  return { serverName: m[1], mediaId: m[2] };
}

/** Create a room; returns its id. `body` is the createRoom request body. */
export async function createRoom(base, token, body = {}) {
  const res = await request(base, '/_matrix/client/v3/createRoom', { token, json: body });
  return res.room_id;
}

/** Join a room by id or alias; returns the room id. */
export async function joinRoom(base, token, roomIdOrAlias) {
  const res = await request(base, `/_matrix/client/v3/join/${encodeURIComponent(roomIdOrAlias)}`, { token, json: {} });
  return res.room_id;
}

/** Send an event (default m.room.message); returns the event id. */
export async function sendMessage(base, token, roomId, content, { type = 'm.room.message' } = {}) {
  const txn = randomUUID();
  const res = await request(
    base,
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${txn}`,
    { method: 'PUT', token, json: content },
  );
  return res.event_id;
}

/** Set the user's avatar to an mxc URI. */
export async function setAvatar(base, token, userId, mxc) {
  await request(base, `/_matrix/client/v3/profile/${encodeURIComponent(userId)}/avatar_url`, {
    method: 'PUT',
    token,
    json: { avatar_url: mxc },
  });
}

/** Set the user's display name. */
export async function setDisplayName(base, token, userId, name) {
  await request(base, `/_matrix/client/v3/profile/${encodeURIComponent(userId)}/displayname`, {
    method: 'PUT',
    token,
    json: { displayname: name },
  });
}

/**
 * Build a media URL for tests. `api`: 'v1' (authenticated) or 'legacy' (/_matrix/media/v3).
 * @param {string} base
 * @param {string} mxc
 * @param {{api?: 'v1'|'legacy', kind?: 'download'|'thumbnail', width?: number, height?: number,
 *          method?: 'crop'|'scale', animated?: boolean, filename?: string, extra?: Record<string,string>}} [opts]
 */
export function mediaUrl(base, mxc, opts = {}) {
  const { serverName, mediaId } = parseMxc(mxc);
  const api = opts.api ?? 'v1';
  const kind = opts.kind ?? 'download';
  const prefix = api === 'v1' ? '/_matrix/client/v1/media' : '/_matrix/media/v3';
  let path = `${prefix}/${kind}/${encodeURIComponent(serverName)}/${encodeURIComponent(mediaId)}`;
  if (kind === 'download' && opts.filename) path += `/${encodeURIComponent(opts.filename)}`;
  const q = new URLSearchParams();
  if (kind === 'thumbnail') {
    q.set('width', String(opts.width ?? 96));
    q.set('height', String(opts.height ?? 96));
    q.set('method', opts.method ?? 'crop');
    if (opts.animated !== undefined) q.set('animated', String(opts.animated));
  }
  for (const [k, v] of Object.entries(opts.extra ?? {})) q.set(k, v);
  const qs = q.toString();
  return joinUrl(base, path) + (qs ? `?${qs}` : '');
}
