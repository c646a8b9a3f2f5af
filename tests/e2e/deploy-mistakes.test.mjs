/**
 * Deployment mistakes are loud (Chromium and Firefox ESR, real Synapse, the built package): when the
 * worker cannot serve the page because of how the site was deployed, `init` still resolves in the
 * fallback, but
 *
 * - `fallbackDetail` says which worker URL was tried and why: the HTTP status (file not copied:
 *   404), the MIME type (an SPA fallback answering index.html as text/html), the scope (script not
 *   above the page);
 * - one console warning says the same (none with `fallbackWarning: false`);
 * - with `fallback: 'never'`, the `no_worker` rejection carries the cause in its message and
 *   `detail`;
 * - `fallbackReason`'s closed union in index.d.ts lists exactly the reasons the wasm can give.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite, waitForPackage, hasWorker, REPO, NPM_DIR } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;

const SPA_HTML = '<!doctype html><title>my app</title><div id="app"></div>';

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite({
    // A server with an SPA fallback under /spa/: every unknown path answers index.html.
    routes: (req, res, url) => {
      if (!url.pathname.startsWith('/spa/')) return false;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(SPA_HTML);
      return true;
    },
  });
  // The worker files where a bundler put them: /assets/ (their scope would be /assets/).
  mkdirSync(path.join(site.dir, 'assets'), { recursive: true });
  for (const f of ['authmedia-sw.js', 'authmedia_sw_bg.wasm', 'authmedia_sw_crypto_bg.wasm']) copyFileSync(path.join(NPM_DIR, 'sw', f), path.join(site.dir, 'assets', f));
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-30).join('\n');

/**
 * In the page: AuthMedia.init(args[0]) with console.warn recorded; returns what init gave (mode,
 * reason, detail) or its rejection, and the package's warnings.
 */
const INIT_BODY = `
  const [opts] = args;
  const warnings = [];
  const original = console.warn;
  console.warn = (...a) => {
    const line = a.map(String).join(' ');
    if (line.startsWith('matrix-authmedia:')) warnings.push(line);
    return original.apply(console, a);
  };
  try {
    try {
      const media = await window.am.AuthMedia.init(opts);
      const out = { mode: media.mode, reason: media.fallbackReason, detail: media.fallbackDetail, warnings };
      await media.logout();
      return out;
    } catch (e) {
      return { rejected: { code: e.code, message: e.message, detail: e.detail ?? null }, warnings };
    }
  } finally {
    console.warn = original;
  }`;

function chromiumInit(opts) {
  return browser.page.evaluate(([body, opts]) => new Function('args', `return (async () => {${body}})()`)([opts]), [INIT_BODY, opts]);
}

function alice(extra) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, workerReadyTimeoutMs: 3000, ...extra };
}

/** The three mistakes and what the detail must say about each. */
function cases() {
  return [
    {
      name: 'worker file missing (404)',
      workerUrl: '/missing/authmedia-sw.js',
      reason: 'registration_failed',
      check: (d, where) => {
        assert.equal(d.status, 404, where);
        assert.equal(d.url, site.url('/missing/authmedia-sw.js'), where);
        assert.ok(d.message.includes(`${site.url('/missing/authmedia-sw.js')} answered HTTP 404`), `${where}: ${d.message}`);
        assert.ok(d.message.includes('node_modules/matrix-authmedia/sw/'), `${where}: ${d.message}`);
      },
      never: /answered HTTP 404/,
    },
    {
      name: 'wrong MIME type (an SPA fallback answers index.html)',
      workerUrl: '/spa/authmedia-sw.js',
      reason: 'registration_failed',
      check: (d, where) => {
        assert.equal(d.status, undefined, where);
        assert.match(d.contentType ?? '', /^text\/html/, where);
        assert.equal(d.url, site.url('/spa/authmedia-sw.js'), where);
        assert.ok(d.message.includes('is served as text/html'), `${where}: ${d.message}`);
        assert.ok(d.message.includes('SPA fallback'), `${where}: ${d.message}`);
      },
      never: /is served as text\/html/,
    },
    {
      name: 'worker script below the page (scope /assets/)',
      workerUrl: '/assets/authmedia-sw.js',
      reason: 'out_of_scope',
      check: (d, where) => {
        assert.equal(d.scope, site.url('/assets/'), where);
        assert.equal(d.url, site.url('/assets/authmedia-sw.js'), where);
        assert.ok(d.message.includes(`scope ${site.url('/assets/')}, which does not cover this page`), `${where}: ${d.message}`);
      },
      never: /does not cover this page/,
    },
  ];
}

/** Runs every case with `init` (a function of the options) in one browser. */
async function checkAll(browserName, init) {
  for (const c of cases()) {
    const where = `${browserName}, ${c.name}`;
    const r = await init(alice({ workerUrl: c.workerUrl }));
    assert.deepEqual([r.mode, r.reason], ['fallback', c.reason], `${where}: ${JSON.stringify(r)}`);
    assert.equal(r.detail.reason, c.reason, where);
    c.check(r.detail, where);
    assert.equal(r.warnings.length, 1, `${where}: ${JSON.stringify(r.warnings)}`);
    assert.ok(r.warnings[0].includes(`using the blob fallback (${c.reason})`) && r.warnings[0].includes(r.detail.message), `${where}: ${r.warnings[0]}`);
    assert.ok(r.warnings[0].includes('fallbackWarning: false'), where);
    const quiet = await init(alice({ workerUrl: c.workerUrl, fallbackWarning: false }));
    assert.deepEqual([quiet.reason, quiet.warnings], [c.reason, []], `${where}, fallbackWarning false: ${JSON.stringify(quiet)}`);
    const never = await init(alice({ workerUrl: c.workerUrl, fallback: 'never' }));
    assert.equal(never.rejected?.code, 'no_worker', `${where}, never: ${JSON.stringify(never)}`);
    assert.match(never.rejected.message, new RegExp(`^matrix-authmedia: no service worker can serve this page \\(${c.reason}\\) and fallback is 'never': `), where);
    assert.match(never.rejected.message, c.never, `${where}, never: ${never.rejected.message}`);
    assert.ok(never.rejected.message.includes(site.url(c.workerUrl)), `${where}, never: ${never.rejected.message}`);
    assert.equal(never.rejected.detail?.reason, c.reason, where);
    assert.deepEqual(never.warnings, [], `${where}, never: the rejection says it, no warning`);
  }
}

test('fallbackReason is a closed union in index.d.ts: exactly the reasons the wasm gives', () => {
  const dts = readFileSync(path.join(NPM_DIR, 'index.d.ts'), 'utf8');
  const union = /export type FallbackReason =([\s\S]*?');/.exec(dts);
  assert.ok(union, 'index.d.ts has no FallbackReason type');
  const typed = [...union[1].matchAll(/\|\s*'([a-z_]+)'/g)].map((m) => m[1]).sort();
  const rs = readFileSync(path.join(REPO, 'crates', 'web', 'src', 'diagnose.rs'), 'utf8');
  const list = /FALLBACK_REASONS: \[&str; \d+\] = \[([\s\S]*?)\];/.exec(rs);
  assert.ok(list, 'diagnose.rs has no FALLBACK_REASONS');
  const given = [...list[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(typed, given);
  // Every reason the worker code sets is in the list.
  const worker = readFileSync(path.join(REPO, 'crates', 'web', 'src', 'worker.rs'), 'utf8');
  const used = new Set([...worker.matchAll(/(?:no_worker|set_reason|facts|why)\(\s*"([a-z_]+)"/g)].map((m) => m[1]));
  for (const r of used) assert.ok(given.includes(r), `worker.rs gives "${r}", missing from FALLBACK_REASONS`);
});

test('Chromium: worker missing (404), wrong MIME type, out of scope → fallbackDetail, one warning, never rejects with the cause', { timeout: 120_000 }, async () => {
  await browser.page.goto(site.url('/'));
  await waitForPackage(browser.page);
  await checkAll('Chromium', chromiumInit).catch((e) => {
    throw Object.assign(e, { message: `${e.message}\n${logs()}` });
  });
  // A working deployment: worker mode, no detail, no warning.
  const ok = await chromiumInit(alice({ workerUrl: '/authmedia-sw.js' }));
  assert.deepEqual(ok.warnings, [], JSON.stringify(ok));
  assert.ok(ok.mode === 'worker' || ok.reason === 'uncontrolled', JSON.stringify(ok));
});

test('Firefox ESR: worker missing (404), wrong MIME type, out of scope → fallbackDetail, one warning, never rejects with the cause', { timeout: 180_000 }, async () => {
  const ff = await launchFirefox();
  try {
    await ff.setTimeouts({ script: 60_000, pageLoad: 60_000 });
    await ff.navigate(site.url('/'));
    await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
    assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
    await checkAll('Firefox', (opts) => ff.evaluate(INIT_BODY, opts));
  } finally {
    await ff.close();
  }
});
