/**
 * `media.diagnose()` in headless Chromium against the real Synapse: the page's own readiness report.
 *
 * - worker mode (a secure origin): the worker controls the page, an authenticated request from this
 *   origin gets through, the negotiated API, a thumbnail of real media loads in worker mode, and the
 *   page's and the worker's versions agree — every check `ok`;
 * - service workers unavailable (an insecure origin: no `navigator.serviceWorker`): the fallback,
 *   its reason, the thumbnail loading through a `blob:` URL, the versions check skipped;
 * - behind the fault proxy: when the homeserver's answer to an authenticated request lacks
 *   `Access-Control-Allow-Origin` (a proxy that drops CORS headers), the `authenticated` check
 *   flips to `fail` with the SDK's code, and back to `ok` once the proxy is fixed;
 * - the loader's `PACKAGE_VERSION` is package.json's.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { startFaultProxy } from '../lib/fault-proxy.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

const INSECURE_HOST = 'authmedia.test';
let world;
let site;
let browser;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const alice = () => world.users.alice;
const verdicts = (report) => Object.fromEntries(report.checks.map((c) => [c.name, c.verdict]));

async function diagnoseOn(origin, opts, mxc) {
  const page = await browser.context.newPage();
  try {
    await page.goto(`${origin}/`);
    await waitForPackage(page);
    return await page.evaluate(
      async ([o, mxc]) => {
        const media = await window.am.AuthMedia.init(o);
        if (window.isSecureContext && media.mode !== 'worker') {
          await new Promise((r) => media.addEventListener('modechange', r, { once: true }));
        }
        return media.diagnose(mxc ? { mxc } : undefined);
      },
      [opts, mxc],
    );
  } finally {
    await page.close();
  }
}

test('worker mode: every check ok — worker, authenticated request, API, thumbnail, versions', { timeout: 120_000 }, async () => {
  const opts = { homeserver: world.synapse.baseUrl, accessToken: alice().accessToken, userId: alice().userId };
  const report = await diagnoseOn(site.url('').replace(/\/$/, ''), opts, world.media.png64.mxc);
  console.log(`# diagnose, worker mode: ${JSON.stringify(report.checks.map((c) => `${c.name} ${c.verdict}`))}`);
  assert.deepEqual(verdicts(report), { worker: 'ok', authenticated: 'ok', api: 'ok', thumbnail: 'ok', versions: 'ok' }, JSON.stringify(report.checks));
  assert.equal(report.mode, 'worker');
  assert.equal(report.controlled, true);
  assert.equal(report.secureContext, true);
  assert.ok(report.controllerScript.endsWith('/authmedia-sw.js'), report.controllerScript);
  assert.ok(report.registration?.active?.endsWith('/authmedia-sw.js'), JSON.stringify(report.registration));
  assert.equal(report.authenticated.ok, true);
  assert.equal(report.authenticated.api, 'v1');
  assert.deepEqual([report.thumbnail.ok, report.thumbnail.mode, report.thumbnail.width, report.thumbnail.height], [true, 'worker', 32, 32]);
  assert.equal(report.worker.version, report.packageVersion);
  assert.equal(report.fallbackReason, null);
  assert.ok(!JSON.stringify(report).includes(alice().accessToken), 'the report contains the token');
});

test('service workers unavailable (insecure origin): the fallback, its reason, the thumbnail from a blob: URL', { timeout: 120_000 }, async () => {
  const opts = { homeserver: world.synapse.baseUrl, accessToken: alice().accessToken, userId: alice().userId };
  const report = await diagnoseOn(`http://${INSECURE_HOST}:${site.port}`, opts, world.media.png64.mxc);
  console.log(`# diagnose, no service workers: ${JSON.stringify(report.checks.map((c) => `${c.name} ${c.verdict}`))}`);
  assert.equal(report.mode, 'fallback');
  assert.equal(report.secureContext, false);
  assert.equal(report.serviceWorkerApi, false);
  assert.equal(report.controlled, false);
  assert.equal(report.fallbackReason, 'insecure_context');
  assert.deepEqual(verdicts(report), { worker: 'warn', authenticated: 'ok', api: 'ok', thumbnail: 'ok', versions: 'skip' }, JSON.stringify(report.checks));
  assert.equal(report.thumbnail.mode, 'fallback');
  assert.equal(report.thumbnail.width, 32);
  const advice = report.checks.find((c) => c.name === 'worker').advice;
  assert.ok(advice && advice.length > 10, 'a warn carries what to do');
});

test('behind a proxy that drops CORS headers from authenticated answers: `authenticated` flips to fail, then back', { timeout: 120_000 }, async () => {
  const proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  const page = await browser.context.newPage();
  try {
    await page.goto(`http://${INSECURE_HOST}:${site.port}/`);
    await waitForPackage(page);
    const opts = { homeserver: proxy.origin, accessToken: alice().accessToken, userId: alice().userId, fallback: 'force' };
    await page.evaluate(async (o) => {
      window.media = await window.am.AuthMedia.init(o);
    }, opts);
    const id = proxy.fault(
      (r) => r.method === 'GET' && r.path === '/_matrix/client/versions',
      { rewrite: { headers: (h) => { delete h['access-control-allow-origin']; } } },
    );
    const broken = await page.evaluate(() => window.media.diagnose());
    proxy.removeFault(id);
    const fixed = await page.evaluate(() => window.media.diagnose());
    console.log(`# diagnose behind the proxy: broken ${JSON.stringify(broken.authenticated)}; fixed ${JSON.stringify(fixed.authenticated)}`);
    assert.equal(verdicts(broken).authenticated, 'fail', JSON.stringify(broken.checks));
    assert.equal(broken.authenticated.ok, false);
    assert.equal(broken.authenticated.code, 'network');
    assert.ok(broken.checks.find((c) => c.name === 'authenticated').advice.includes('authmedia probe'));
    assert.ok(proxy.count((r) => r.method === 'GET' && r.path === '/_matrix/client/versions' && r.faulted) >= 1, 'the fault never applied');
    assert.equal(verdicts(fixed).authenticated, 'ok', JSON.stringify(fixed.checks));
    assert.equal(verdicts(fixed).thumbnail, 'skip');
  } finally {
    await page.close();
    await proxy.close();
  }
});

test('the loader\'s PACKAGE_VERSION is package.json\'s', () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'npm', 'package.json'), 'utf8'));
  const loader = readFileSync(path.join(REPO_ROOT, 'npm', 'index.js'), 'utf8');
  assert.equal(/export const PACKAGE_VERSION = '([^']+)'/.exec(loader)?.[1], pkg.version);
  assert.equal(pkg.version, readFileSync(path.join(REPO_ROOT, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"/m)?.[1], 'the worker reports the crate version');
});
