/**
 * What bench/run.mjs and bench/compare.mjs share: statistics and Markdown helpers, the machine
 * description, the bench site (bench/pages + one build of the npm package), Synapse's access-log
 * counts, and a fresh Chromium profile per measured run with CDP network accounting.
 *
 *   median(xs), fmt(x, digits), table(head, rows), machine(), save(name, data)
 *   startSite({ npmDir = <repo>/npm }) → static server serving bench/pages at "/", the package's
 *     worker files (npm/sw/*) at "/" ("/authmedia-sw.js", …), the package at "/pkg/",
 *     matrix-js-sdk at "/js-sdk/"; `served` lists every request ({ path, t: Date.now() }) and
 *     `fileOf(path)` names the file a path was served from.
 *   serverCounts(logFile, from), serverCountsAtLeast(logFile, from, n), logSize(file)
 *   openBrowser(site, world, { args, amOptions }), evaluate(b, fn, ...args)
 *   packageMissing(npmDir) → the first missing built file, or null
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, cdp, collectConsole, CHROMIUM_PATH } from '../../tests/lib/browser.mjs';
import { startStaticServer } from '../../support/static-server.mjs';

export const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(BENCH, '..');
export const RESULTS = path.join(BENCH, 'results');

export const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
export const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
export const table = (head, rows) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function machine() {
  let chromium = 'unknown';
  try { chromium = execFileSync(CHROMIUM_PATH, ['--version']).toString().trim(); } catch {}
  let commit = 'unknown';
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(); } catch {}
  return {
    commit,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((x) => x.toFixed(2)),
    kernel: os.release(),
    node: process.version,
    chromium,
  };
}

export function save(name, data) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...data }, null, 2));
}

export function packageMissing(npmDir = path.join(ROOT, 'npm')) {
  for (const f of ['index.js', 'sw/authmedia-sw.js']) {
    if (!existsSync(path.join(npmDir, f))) return path.join(npmDir, f);
  }
  return null;
}

export async function startSite({ npmDir = path.join(ROOT, 'npm') } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-bench-site-'));
  for (const f of readdirSync(path.join(BENCH, 'pages'))) copyFileSync(path.join(BENCH, 'pages', f), path.join(dir, f));
  // Every file the package ships for the worker goes next to the worker script, where workerUrl points.
  for (const f of readdirSync(path.join(npmDir, 'sw'))) copyFileSync(path.join(npmDir, 'sw', f), path.join(dir, f));
  const mounts = { '/pkg/': npmDir, '/js-sdk/': path.join(ROOT, 'tests', 'node_modules', 'matrix-js-sdk', 'lib') };
  const served = [];
  const server = await startStaticServer({
    root: dir,
    mounts,
    // Only records what was asked for and when; the static server answers.
    routes: (req, _res, url) => { served.push({ path: url.pathname, t: Date.now() }); return false; },
  });
  /** The file a path of this site is served from (for sizes), or null. */
  const fileOf = (p) => {
    const m = Object.entries(mounts).find(([prefix]) => p.startsWith(prefix));
    const f = m ? path.join(m[1], p.slice(m[0].length)) : path.join(dir, p);
    try { return statSync(f).isFile() ? f : null; } catch { return null; }
  };
  return Object.assign(server, { dir, served, fileOf, npmDir });
}

/** Counts of media GETs and /versions requests as Synapse logged them (access log; it does not log OPTIONS) since byte `from`. */
export function serverCounts(logFile, from) {
  const text = readFileSync(logFile).subarray(from).toString();
  const c = { get: 0, versions: 0 };
  for (const line of text.split('\n')) {
    if (/"GET \/_matrix\/(client\/v1\/media|media\/v3)\/(thumbnail|download)\//.test(line)) c.get++;
    else if (/"GET \/_matrix\/client\/versions/.test(line)) c.versions++;
  }
  return c;
}
export const logSize = (f) => statSync(f).size;
export async function serverCountsAtLeast(logFile, from, n, timeoutMs = 10_000) {
  const t0 = Date.now();
  let c = serverCounts(logFile, from);
  while (c.get < n && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 50));
    c = serverCounts(logFile, from);
  }
  return c;
}

/** A fresh browser + page on the bench site, with CDP network accounting for media responses. */
export async function openBrowser(site, world, { args = [], amOptions } = {}) {
  const b = await launchChromium({ args });
  const consoleLines = collectConsole(b.page);
  const net = { responses: 0, fromDiskCache: 0, fromMemoryCache: 0, fromServiceWorker: 0, fromPrefetchCache: 0 };
  const session = await cdp(b.page);
  await session.send('Network.enable');
  session.on('Network.responseReceived', (e) => {
    if (!e.response.url.startsWith(world.baseUrl)) return;
    net.responses++;
    if (e.response.fromDiskCache) net.fromDiskCache++;
    if (e.response.fromServiceWorker) net.fromServiceWorker++;
    if (e.response.fromPrefetchCache) net.fromPrefetchCache++;
  });
  session.on('Network.requestServedFromCache', () => { net.fromMemoryCache++; });
  const goto = async () => {
    await b.page.goto(site.url('/'));
    await b.page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
    await b.page.evaluate((c) => window.bench.setConfig(c), { homeserver: world.baseUrl, token: world.token, userId: world.userId, amOptions });
  };
  await goto();
  return Object.assign(b, { net, session, consoleLines, goto, logs: () => consoleLines.slice(-20).join('\n') });
}

export const evaluate = (b, fn, ...args) =>
  b.page.evaluate(fn, ...args).catch((e) => { throw new Error(`${e.message}\n--- console ---\n${b.logs()}`); });

/** Removes a site's temporary directory after closing it. */
export async function closeSite(site) {
  await site.close();
  rmSync(site.dir, { recursive: true, force: true });
}
