/**
 * The fault-injecting proxy (tests/lib/fault-proxy.mjs) against the real Synapse of the world: it
 * forwards faithfully, each fault action does what it says, `times` uses a rule up, counting and
 * waitFor see what happened, and a browser sees a faulted answer (not a CORS failure).
 * Like the recorder's test in smoke.test.mjs, this tests the harness the fault tests stand on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startFaultProxy } from '../lib/fault-proxy.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { freePort } from '../../support/procs.mjs';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** @type {any} */
let world;
/** @type {Awaited<ReturnType<typeof startFaultProxy>>} */
let proxy;
/** @type {string} */
let token;

before(async () => {
  world = await loadWorld();
  token = world.users.alice.accessToken;
  proxy = await startFaultProxy({ target: world.synapse.baseUrl });
});

after(async () => {
  await proxy?.close();
});

/** GET a media URL through the proxy with alice's token. */
async function get(url, init = {}) {
  return fetch(url, { headers: { Authorization: `Bearer ${token}` }, ...init });
}

const isDownload = { pathIncludes: '/_matrix/client/v1/media/download/' };

test('fault proxy: forwards GET and POST (headers, body, status) and records every request', async () => {
  proxy.clear();
  proxy.clearFaults();
  const png = world.media.png64;
  const res = await get(mx.mediaUrl(proxy.origin, png.mxc));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), png.contentType);
  // Synapse's own CORS header passes through.
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), png.sha256);

  // A request body and its Content-Type reach Synapse: upload through the proxy, read back directly.
  const body = Buffer.from(`fault-proxy upload ${Date.now()}`);
  const mxc = await mx.upload(proxy.origin, token, body, 'text/plain', 'proxied.txt');
  const direct = await get(mx.mediaUrl(world.synapse.baseUrl, mxc));
  assert.equal(direct.status, 200);
  assert.deepEqual(Buffer.from(await direct.arrayBuffer()), body);

  // Synapse's errors come back as they are.
  const unauth = await fetch(mx.mediaUrl(proxy.origin, png.mxc));
  assert.equal(unauth.status, 401);
  assert.equal((await unauth.json()).errcode, 'M_MISSING_TOKEN');

  const got = proxy.requests.find((r) => r.method === 'GET' && r.path.endsWith(png.mediaId) && r.status === 200);
  assert.ok(got, JSON.stringify(proxy.requests));
  assert.equal(got.headers.authorization, `Bearer ${token}`);
  assert.equal(got.faulted, false);
  assert.equal(typeof got.time, 'number');
  assert.equal(proxy.count((r) => r.method === 'POST' && r.path === '/_matrix/media/v3/upload' && r.status === 200), 1);
  assert.equal(proxy.count((r) => r.status === 401), 1);
  assert.equal(proxy.count(), 3);
  assert.equal(proxy.count(isDownload), 2);
});

test('fault proxy: { status, headers, body } with times answers N times, then forwards again', async () => {
  proxy.clear();
  proxy.clearFaults();
  const png = world.media.png64;
  const id = proxy.fault(isDownload, {
    status: 429,
    headers: { 'Retry-After': '2' },
    body: { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 2000 },
    times: 2,
  });
  assert.equal(typeof id, 'number');
  for (let i = 0; i < 2; i++) {
    const res = await get(mx.mediaUrl(proxy.origin, png.mxc));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '2');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 2000 });
  }
  const third = await get(mx.mediaUrl(proxy.origin, png.mxc));
  assert.equal(third.status, 200, 'rule used up after times: 2');
  assert.equal(sha256(Buffer.from(await third.arrayBuffer())), png.sha256);
  assert.equal(proxy.count((r) => r.faulted && r.status === 429), 2);
  assert.equal(proxy.count((r) => !r.faulted && r.status === 200), 1);
  assert.equal(proxy.faults.find((f) => f.id === id)?.hits, 2);

  // A rule without `times` stays; removeFault takes it away; rules apply in order.
  const teapot = proxy.fault(isDownload, { status: 418, body: 'first' });
  proxy.fault(isDownload, { status: 503, body: 'second' });
  assert.equal((await get(mx.mediaUrl(proxy.origin, png.mxc))).status, 418);
  assert.equal((await get(mx.mediaUrl(proxy.origin, png.mxc))).status, 418);
  proxy.removeFault(teapot);
  const second = await get(mx.mediaUrl(proxy.origin, png.mxc));
  assert.equal(second.status, 503);
  assert.equal(await second.text(), 'second');
  proxy.clearFaults();
  assert.equal((await get(mx.mediaUrl(proxy.origin, png.mxc))).status, 200);
});

test('fault proxy: matchers — an object matcher skips OPTIONS unless asked; a function sees the request', async () => {
  proxy.clear();
  proxy.clearFaults();
  const png = world.media.png64;
  proxy.fault(isDownload, { status: 500, body: 'get only' });
  proxy.fault({ method: 'OPTIONS', pathIncludes: '/thumbnail/' }, { status: 403, body: 'preflight' });
  const preflight = await fetch(mx.mediaUrl(proxy.origin, png.mxc), {
    method: 'OPTIONS',
    headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
  });
  assert.ok(preflight.status >= 200 && preflight.status < 300, `preflight forwarded to Synapse: ${preflight.status}`);
  const faultedPreflight = await fetch(mx.mediaUrl(proxy.origin, png.mxc, { kind: 'thumbnail' }), {
    method: 'OPTIONS',
    headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization, x-y' },
  });
  assert.equal(faultedPreflight.status, 403);
  assert.equal(faultedPreflight.headers.get('access-control-allow-headers'), 'authorization, x-y');
  assert.equal(faultedPreflight.headers.get('access-control-allow-methods'), 'GET');
  assert.equal((await get(mx.mediaUrl(proxy.origin, png.mxc))).status, 500);
  assert.equal(proxy.count({ method: 'OPTIONS' }), 2);
  assert.equal(proxy.count({ method: 'OPTIONS', pathIncludes: '/download/' }), 1);
  assert.equal(proxy.count({ pathIncludes: '/download/' }), 1, 'object matcher without method skips OPTIONS');

  proxy.clearFaults();
  proxy.fault((r) => r.headers.authorization === undefined, { status: 451, body: 'no token' });
  assert.equal((await fetch(mx.mediaUrl(proxy.origin, png.mxc))).status, 451);
  assert.equal((await get(mx.mediaUrl(proxy.origin, png.mxc))).status, 200);
  proxy.clearFaults();
});

test('fault proxy: stall never answers (other requests still do), reset is a connection error, delayMs forwards late', async () => {
  proxy.clear();
  proxy.clearFaults();
  const png = world.media.png64;
  proxy.fault({ pathIncludes: png.mediaId }, { stall: true, times: 1 });
  const abort = new AbortController();
  const stalled = get(mx.mediaUrl(proxy.origin, png.mxc), { signal: abort.signal }).then(
    (res) => ({ ok: true, status: res.status }),
    (err) => ({ ok: false, name: err.name }),
  );
  const stalledRecord = await proxy.waitFor((r) => r.faulted && r.fault === 'stall');
  // Another request (the rule was for one) is answered while the first one is still open.
  const other = await get(mx.mediaUrl(proxy.origin, world.media.png800.mxc));
  assert.equal(other.status, 200);
  await other.arrayBuffer();
  const again = await get(mx.mediaUrl(proxy.origin, png.mxc));
  assert.equal(again.status, 200, 'stall had times: 1');
  await again.arrayBuffer();
  assert.equal(stalledRecord.status, undefined, 'the stalled request got no answer');
  assert.equal(stalledRecord.doneTime, undefined);
  abort.abort();
  assert.deepEqual(await stalled, { ok: false, name: 'AbortError' });
  // The client hanging up is seen by the proxy.
  await proxy.waitFor((r) => r === stalledRecord && r.doneTime !== undefined);

  proxy.fault({ pathIncludes: png.mediaId }, { reset: true, times: 1 });
  await assert.rejects(get(mx.mediaUrl(proxy.origin, png.mxc)), (err) => err instanceof TypeError);
  assert.equal(proxy.count((r) => r.fault === 'reset' && r.status === undefined), 1);

  const delayMs = 400;
  proxy.fault({ pathIncludes: png.mediaId }, { delayMs, times: 1 });
  const t0 = Date.now();
  const late = await get(mx.mediaUrl(proxy.origin, png.mxc));
  assert.equal(late.status, 200);
  assert.equal(sha256(Buffer.from(await late.arrayBuffer())), png.sha256);
  assert.ok(Date.now() - t0 >= delayMs, `answered after ${Date.now() - t0} ms, delay was ${delayMs} ms`);
  assert.equal(proxy.count((r) => r.fault === 'delay' && r.status === 200), 1);
  assert.equal(proxy.faults.every((f) => f.remaining === 0), true, 'every times: 1 rule used up');
  proxy.clearFaults();
});

test('fault proxy: down(true) refuses connections (open ones too), down(false) serves again; waitFor is event-driven', async () => {
  proxy.clear();
  proxy.clearFaults();
  const png = world.media.png64;
  const url = mx.mediaUrl(proxy.origin, png.mxc);
  // A keep-alive connection is open now.
  assert.equal((await get(url)).status, 200);
  const waiting = proxy.waitFor((r) => r.headers['x-probe'] === 'after-down' && r.status === 200);
  proxy.down(true);
  await assert.rejects(get(url), (err) => err instanceof TypeError);
  await assert.rejects(fetch(url), (err) => err instanceof TypeError);
  proxy.down(false);
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, 'X-Probe': 'after-down' } });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const seen = await waiting;
  assert.equal(seen.status, 200);
  // Requests refused while down never reached the HTTP layer.
  assert.equal(proxy.count(), 2);
  await assert.rejects(proxy.waitFor((r) => r.method === 'DELETE', 200), /no matching request/);
});

test('fault proxy: an unreachable target is a 502 with a Matrix error', async () => {
  const port = await freePort();
  const dead = await startFaultProxy({ target: `http://127.0.0.1:${port}` });
  try {
    const res = await fetch(dead.url('/_matrix/client/versions'));
    assert.equal(res.status, 502);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal((await res.json()).errcode, 'M_UNKNOWN');
    assert.equal(dead.count((r) => r.status === 502 && !r.faulted), 1);
  } finally {
    await dead.close();
  }
});

test('fault proxy: a browser sees the faulted answer through CORS (preflight forwarded, Retry-After readable)', { timeout: 90_000 }, async () => {
  proxy.clear();
  proxy.clearFaults();
  const site = await startStaticServer({
    routes: { '/': (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>proxy</title>') },
  });
  const chromium = await launchChromium();
  const lines = collectConsole(chromium.page);
  try {
    await chromium.page.goto(site.url('/'));
    const png = world.media.png64;
    proxy.fault(isDownload, {
      status: 429,
      headers: { 'Retry-After': '1' },
      body: { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down' },
      times: 1,
    });
    const results = await chromium.page.evaluate(
      async ([url, token]) => {
        const out = [];
        for (let i = 0; i < 2; i++) {
          const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
          const buf = await res.arrayBuffer();
          out.push({ status: res.status, retryAfter: res.headers.get('retry-after'), size: buf.byteLength, text: res.status === 200 ? null : new TextDecoder().decode(buf) });
        }
        return out;
      },
      [mx.mediaUrl(proxy.origin, png.mxc), token],
    );
    assert.equal(results[0].status, 429, JSON.stringify({ results, lines }));
    assert.equal(results[0].retryAfter, '1');
    assert.equal(JSON.parse(results[0].text).errcode, 'M_LIMIT_EXCEEDED');
    assert.equal(results[1].status, 200);
    assert.equal(results[1].size, png.bytes);
    // The preflight announcing Authorization went to Synapse and was answered by it.
    assert.ok(proxy.count((r) => r.method === 'OPTIONS' && !r.faulted && r.status >= 200 && r.status < 300) >= 1, JSON.stringify(proxy.requests));
  } finally {
    await chromium.close();
    await site.close();
    proxy.clearFaults();
  }
});
