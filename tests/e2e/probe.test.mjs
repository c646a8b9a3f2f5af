/**
 * `authmedia probe` against the real Synapse of the world, directly and behind the fault proxy
 * (tests/lib/fault-proxy.mjs) set up as the reverse proxies and CDNs of real deployments: each
 * check is seen to flip between ok and warn/fail when the deployment changes, and back.
 *
 * The world's Synapse was started with enable_authenticated_media false, given one upload
 * (prefreezePng), then restarted with it true (the freeze): the freeze check sees both states.
 * The CLI is built here (cargo build -p authmedia-cli; a no-op when it is up to date).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import { REPO_ROOT, startSynapse } from '../../support/synapse.mjs';
import * as mx from '../../support/matrix.mjs';
import { startFaultProxy } from '../lib/fault-proxy.mjs';
import { listen } from '../../support/procs.mjs';

const APP_ORIGIN = 'http://localhost:5173';
const CARGO =
  process.env.CARGO ||
  (existsSync(path.join(os.homedir(), '.cargo', 'bin', 'cargo')) ? path.join(os.homedir(), '.cargo', 'bin', 'cargo') : 'cargo');
const BIN = path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO_ROOT, 'target'), 'debug', 'authmedia');

/** @type {any} */
let world;
/** @type {string} */
let token;
/** @type {Awaited<ReturnType<typeof startFaultProxy>>} */
let proxy;
/** @type {{origin: string, seen: any[], allowHeaders: string, status: number, close: () => Promise<void>}} */
let cdn;

/** A stand-in CDN on another origin: serves any path tokenless, with configurable CORS. */
async function startCdn() {
  /** @type {any[]} */
  const seen = [];
  const state = { allowHeaders: 'authorization, range', status: 200 };
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET',
        'access-control-allow-headers': state.allowHeaders,
      });
      res.end();
      return;
    }
    const body = state.status === 200 ? Buffer.from('cdn bytes') : Buffer.from('{"errcode":"M_MISSING_TOKEN"}');
    res.writeHead(state.status, {
      'access-control-allow-origin': '*',
      'content-type': state.status === 200 ? 'image/png' : 'application/json',
      'content-length': String(body.length),
      'cache-control': 'private, max-age=3600',
      'content-disposition': 'inline',
      'content-security-policy': "sandbox; default-src 'none'",
    });
    res.end(body);
  });
  const { origin } = await listen(server);
  return Object.assign(state, {
    origin,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  });
}

before(async () => {
  world = await loadWorld();
  token = world.users.alice.accessToken;
  execFileSync(CARGO, ['build', '-q', '-p', 'authmedia-cli'], { cwd: REPO_ROOT, stdio: 'inherit' });
  proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  cdn = await startCdn();
});

after(async () => {
  await proxy?.close();
  await cdn?.close();
});

/**
 * Runs `authmedia probe <base> …args --json` (the token through AUTHMEDIA_TOKEN unless
 * `withToken` is false); resolves with the exit code, the report and its levels by check.
 * @param {string} base
 * @param {string[]} args
 * @param {{withToken?: boolean, tokenValue?: string}} [opts]
 */
function probe(base, args, { withToken = true, tokenValue = token } = {}) {
  const env = { ...process.env };
  delete env.AUTHMEDIA_TOKEN;
  if (withToken) env.AUTHMEDIA_TOKEN = tokenValue;
  return new Promise((resolve, reject) => {
    execFile(BIN, ['probe', base, '--origin', APP_ORIGIN, '--json', ...args], { env }, (err, stdout, stderr) => {
      const code = err ? err.code : 0;
      if (typeof code !== 'number') return reject(err);
      let report;
      try {
        report = JSON.parse(stdout);
      } catch {
        return reject(new Error(`probe printed no JSON (exit ${code}): ${stdout}${stderr}`));
      }
      /** @type {Record<string, string>} */
      const levels = {};
      for (const c of report.checks) levels[c.check] = c.level;
      /** @param {string} name */
      const check = (name) => report.checks.find((/** @type {any} */ c) => c.check === name);
      resolve({ code, report, levels, check, stdout });
    });
  });
}

test('probe: the stock Synapse is ready — v1, 401 without a token, frozen, CORS ok, Range ignored (warn)', async () => {
  const r = await probe(world.synapse.baseUrl, ['--upload']);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.report.ready, true);
  assert.equal(r.report.api, 'v1');
  assert.deepEqual(r.levels, {
    versions: 'ok',
    media_config: 'ok',
    upload: 'ok',
    download: 'ok',
    thumbnail: 'ok',
    tokenless: 'ok',
    freeze: 'ok',
    cors: 'ok',
    range: 'warn',
    caching: 'ok',
    redirects: 'ok',
    headers: 'ok',
  });
  assert.match(r.report.observations.media, /^mxc:\/\/authmedia\.test\//);
  assert.equal(r.report.observations.tokenless.status, 401);
  assert.equal(r.report.observations.legacy.status, 404);
  // The token is nowhere in the report.
  assert.ok(!r.stdout.includes(token));

  // The table says the same, one line per check, and exits 0.
  const table = await new Promise((resolve) => {
    execFile(BIN, ['probe', world.synapse.baseUrl, '--mxc', world.media.png64.mxc], {
      env: { ...process.env, AUTHMEDIA_TOKEN: token },
    }, (err, stdout) => resolve({ code: err ? err.code : 0, stdout }));
  });
  assert.equal(table.code, 0, table.stdout);
  assert.match(table.stdout, /^ok {4}versions /m);
  assert.match(table.stdout, /^warn {2}range /m);
  assert.match(table.stdout, /^ready: /m);
});

test('probe: freeze flips — media uploaded before the freeze is served on the legacy endpoint (warn), media after it is not (ok)', async () => {
  const before = await probe(world.synapse.baseUrl, ['--mxc', world.media.prefreezePng.mxc]);
  assert.equal(before.levels.freeze, 'warn', JSON.stringify(before.check('freeze')));
  assert.match(before.check('freeze').summary, /not frozen/);
  assert.equal(before.report.observations.legacy.status, 200);
  assert.equal(before.code, 0, 'a warning does not fail the probe');

  const after = await probe(world.synapse.baseUrl, ['--mxc', world.media.png64.mxc]);
  assert.equal(after.levels.freeze, 'ok');
  assert.equal(after.report.observations.legacy.status, 404);
});

test('probe: freeze flips with the server — enable_authenticated_media false: a fresh upload is served on the legacy endpoint (warn); restarted true: not (ok)', async () => {
  const dir = path.join(REPO_ROOT, '.local', `probe-freeze-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const synapse = await startSynapse({ dir, authenticatedMedia: false });
  try {
    const user = await mx.registerUser(synapse.baseUrl, synapse.registrationSecret, 'prober', 'prober-password-1');
    const open = await probe(synapse.baseUrl, ['--upload'], { tokenValue: user.accessToken });
    assert.equal(open.levels.upload, 'ok');
    assert.equal(open.levels.freeze, 'warn', JSON.stringify(open.check('freeze')));
    assert.equal(open.report.observations.legacy.status, 200);
    // Authenticated media is served either way.
    assert.equal(open.levels.download, 'ok');

    await synapse.restart({ authenticatedMedia: true });
    const frozen = await probe(synapse.baseUrl, ['--upload'], { tokenValue: user.accessToken });
    assert.equal(frozen.levels.freeze, 'ok', JSON.stringify(frozen.check('freeze')));
    assert.equal(frozen.report.observations.legacy.status, 404);
    assert.notEqual(frozen.report.observations.media, open.report.observations.media);
  } finally {
    await synapse.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probe: without a token the authenticated checks are skipped, tokenless 401 and CORS still checked; a bad token fails', async () => {
  const none = await probe(world.synapse.baseUrl, [], { withToken: false });
  assert.equal(none.code, 0, none.stdout);
  assert.equal(none.levels.media_config, 'skip');
  assert.equal(none.levels.download, 'skip');
  assert.equal(none.levels.tokenless, 'ok');
  assert.equal(none.levels.cors, 'ok');

  const bad = await probe(world.synapse.baseUrl, ['--mxc', world.media.png64.mxc], { tokenValue: 'syt_not_a_token' });
  assert.equal(bad.code, 1);
  assert.equal(bad.levels.media_config, 'fail');
  assert.equal(bad.levels.download, 'fail');
  assert.equal(bad.report.ready, false);
});

test('probe behind a proxy: CORS flips to fail when the preflight does not allow Authorization, and back', async () => {
  proxy.clearFaults();
  const mxc = world.media.png64.mxc;
  const ok = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(ok.levels.cors, 'ok', JSON.stringify(ok.check('cors')));

  proxy.fault(
    { method: 'OPTIONS' },
    { rewrite: { headers: (h) => void (h['access-control-allow-headers'] = 'X-Requested-With, Content-Type') } },
  );
  const refused = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(refused.levels.cors, 'fail');
  assert.match(refused.check('cors').summary, /Authorization/);
  assert.equal(refused.code, 1);
  assert.ok(proxy.count((r) => r.method === 'OPTIONS' && r.faulted) >= 1);

  proxy.clearFaults();
  const again = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(again.levels.cors, 'ok');
  assert.equal(again.code, 0);
});

test('probe behind a proxy: caching flips to warn with a public cache policy, and back to ok with Vary: Authorization', async () => {
  proxy.clearFaults();
  const mxc = world.media.png64.mxc;
  const isMedia = { pathIncludes: '/_matrix/client/v1/media/download/' };
  const publicCache = proxy.fault(isMedia, {
    rewrite: { headers: (h) => void (h['cache-control'] = 'public, max-age=86400') },
  });
  const warned = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(warned.levels.caching, 'warn', JSON.stringify(warned.check('caching')));
  assert.match(warned.check('caching').summary, /Vary: Authorization/);

  proxy.removeFault(publicCache);
  proxy.fault(isMedia, {
    rewrite: {
      headers: (h) => {
        h['cache-control'] = 'public, max-age=86400';
        h.vary = 'Authorization';
      },
    },
  });
  const varied = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(varied.levels.caching, 'ok');
  assert.equal(varied.report.observations.download.headers.vary, 'Authorization');
  proxy.clearFaults();
});

test('probe behind a proxy: Range flips from ignored (warn) to honoured (ok, 206)', async () => {
  proxy.clearFaults();
  const mxc = world.media.png64.mxc;
  const ignored = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(ignored.levels.range, 'warn');
  assert.equal(ignored.report.observations.range.status, 200);

  proxy.fault({ pathIncludes: '/_matrix/client/v1/media/download/' }, { rewrite: { range: true } });
  const honoured = await probe(proxy.origin, ['--mxc', mxc]);
  assert.equal(honoured.levels.range, 'ok', JSON.stringify(honoured.check('range')));
  const seen = honoured.report.observations.range;
  assert.equal(seen.status, 206);
  assert.equal(seen.headers['content-range'], `bytes 0-0/${world.media.png64.bytes}`);
  assert.equal(seen.headers['content-length'], '1');
  // The full download through the same rule is untouched (no Range, 200).
  assert.equal(honoured.report.observations.download.status, 200);
  proxy.clearFaults();
});

test('probe behind a proxy: media redirected to another origin — ok, warn when its preflight refuses Authorization, fail when it needs the token; the token never reaches it', async () => {
  proxy.clearFaults();
  const png = world.media.png64;
  // Authenticated downloads are redirected to the CDN (a signed URL needs no token).
  proxy.fault(
    (r) => r.method === 'GET' && r.url.includes('/_matrix/client/v1/media/download/') && r.headers.authorization,
    { status: 307, headers: { Location: `${cdn.origin}/media/${png.mediaId}?sig=probe` } },
  );
  cdn.seen.length = 0;
  cdn.allowHeaders = 'authorization, range';
  cdn.status = 200;
  const ok = await probe(proxy.origin, ['--mxc', png.mxc]);
  assert.equal(ok.levels.redirects, 'ok', JSON.stringify(ok.check('redirects')));
  assert.match(ok.check('redirects').summary, new RegExp(cdn.origin.replace(/[.]/g, '\\.')));
  assert.deepEqual(ok.report.observations.download.redirects, [
    { status: 307, to: `${cdn.origin}/media/${png.mediaId}?sig=probe` },
  ]);
  assert.equal(ok.levels.download, 'ok');

  cdn.allowHeaders = 'range';
  const webkit = await probe(proxy.origin, ['--mxc', png.mxc]);
  assert.equal(webkit.levels.redirects, 'warn');
  assert.match(webkit.check('redirects').summary, /WebKit/);

  cdn.allowHeaders = 'authorization, range';
  cdn.status = 401;
  const needsToken = await probe(proxy.origin, ['--mxc', png.mxc]);
  assert.equal(needsToken.levels.redirects, 'fail');
  assert.equal(needsToken.code, 1);

  // What the CDN saw: GETs and preflights, never the token, and Origin: null after the redirect.
  const gets = cdn.seen.filter((s) => s.method === 'GET');
  assert.ok(gets.length >= 3, `${gets.length} GETs at the CDN`);
  for (const s of cdn.seen) assert.equal(s.headers.authorization, undefined, `token sent to ${s.method} ${s.url}`);
  for (const s of gets) assert.equal(s.headers.origin, 'null');
  assert.ok(cdn.seen.some((s) => s.method === 'OPTIONS' && s.headers['access-control-request-headers'] === 'authorization,range'));

  proxy.clearFaults();
  cdn.status = 200;
  const direct = await probe(proxy.origin, ['--mxc', png.mxc]);
  assert.equal(direct.levels.redirects, 'ok');
  assert.deepEqual(direct.report.observations.download.redirects ?? [], []);
});

test('probe: the media URL the CLI probes is the one the harness builds (same server name and id)', async () => {
  const r = await probe(world.synapse.baseUrl, ['--mxc', world.media.png64.mxc]);
  assert.equal(r.report.observations.download.request, `GET ${mx.mediaUrl(world.synapse.baseUrl, world.media.png64.mxc)}`);
});
