#!/usr/bin/env node
// Encrypted-attachment benchmark: verify+decrypt throughput for 1 MB and 50 MB,
// natively and in Chromium (authmedia wasm streaming vs WebCrypto one-shot, same page), and the
// peak memory of each in the browser. Prints a Markdown table; JSON goes to bench/results/crypto.json.
//
//   node bench/crypto/run.mjs              build (cargo + wasm-bindgen) and run everything
//   SKIP_BUILD=1 node bench/crypto/run.mjs reuse pkg/ and pkg-z/
//   SKIP_NATIVE=1 ...                      browser only
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, CHROMIUM_PATH } from '../../tests/lib/browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const MB = 1_000_000;
const SIZES = [1 * MB, 50 * MB];
const env = { ...process.env, PATH: `${os.homedir()}/.cargo/bin:${process.env.PATH}` };
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: HERE, env, stdio: ['ignore', 'pipe', 'inherit'], ...opts })?.toString() ?? '';

// ---- build -------------------------------------------------------------------------------
const builds = [['pkg', 'release', 'opt-level 3'], ['pkg-z', 'release-z', 'opt-level z (as shipped)']];
if (process.env.SKIP_BUILD !== '1') {
  for (const [dir, profile] of builds) {
    sh('cargo', ['build', '--lib', '--profile', profile, '--target', 'wasm32-unknown-unknown'], { stdio: 'inherit' });
    sh('wasm-bindgen', ['--target', 'web', '--out-dir', dir, `target/wasm32-unknown-unknown/${profile}/authmedia_crypto_bench.wasm`]);
  }
}

// ---- native ------------------------------------------------------------------------------
const results = { date: new Date().toISOString(), machine: machine(), native: [], chromium: {}, memory: [] };
if (process.env.SKIP_NATIVE !== '1') {
  const out = sh('cargo', ['run', '-q', '--release', '--bin', 'native']);
  results.native = out.trim().split('\n').map((l) => JSON.parse(l));
}

// ---- server: the page, the wasm, and fixtures like a homeserver would serve them ----------
const fixtures = new Map();
function fixture(size) {
  if (!fixtures.has(size)) {
    const plain = randomBytes(size);
    const key = randomBytes(32);
    const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
    const c = createCipheriv('aes-256-ctr', key, iv);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    const unpad = (s) => s.replace(/=+$/, '');
    const file = {
      v: 'v2', url: 'mxc://bench.invalid/x', iv: unpad(iv.toString('base64')),
      hashes: { sha256: unpad(createHash('sha256').update(ct).digest('base64')) },
      key: { kty: 'oct', alg: 'A256CTR', key_ops: ['encrypt', 'decrypt'], ext: true, k: key.toString('base64url') },
    };
    fixtures.set(size, { ct, json: JSON.stringify(file) });
  }
  return fixtures.get(size);
}
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let m;
  if ((m = url.pathname.match(/^\/ct\/(\d+)$/))) {
    const { ct } = fixture(Number(m[1]));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ct.length, 'cache-control': 'no-store' });
    return res.end(ct);
  }
  if ((m = url.pathname.match(/^\/file\/(\d+)\.json$/))) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(fixture(Number(m[1])).json);
  }
  const file = path.join(HERE, path.normalize(url.pathname));
  if (!file.startsWith(HERE)) return res.writeHead(403).end();
  try {
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

async function openPage(pkg) {
  const b = await launchChromium({ args: ['--enable-precise-memory-info'] });
  await b.page.goto(`${origin}/page/index.html?pkg=${pkg}`);
  await b.page.waitForFunction(() => window.benchReady === true, null, { timeout: 60_000 });
  return b;
}

// ---- Chromium throughput ----------------------------------------------------------------
let version = '';
for (const [pkg, , label] of builds) {
  const b = await openPage(pkg);
  version ||= await b.page.evaluate(() => navigator.userAgent);
  results.chromium[label] = {};
  for (const size of SIZES) {
    results.chromium[label][size / MB] = await b.page.evaluate(
      ([s, runs]) => window.benchThroughput(s, runs), [size, size > 10 * MB ? 5 : 21]);
  }
  await b.close();
}
results.browser = version;

// ---- Chromium peak memory: one fresh browser per measurement, renderer VmHWM ----------------
function descendants(rootPid) {
  const kids = new Map();
  for (const d of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch { /* process gone */ }
  }
  const out = [];
  const todo = [rootPid];
  while (todo.length) for (const k of kids.get(todo.pop()) ?? []) { out.push(k); todo.push(k); }
  return out;
}
function browserPid(userDataDir) {
  for (const d of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(userDataDir) && !cmd.includes('--type=')) return Number(d);
    } catch { /* gone */ }
  }
  throw new Error('browser process not found');
}
function rendererPeakMb(userDataDir) {
  let peak = 0;
  for (const pid of descendants(browserPid(userDataDir))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const hwm = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1000);
    } catch { /* gone */ }
  }
  return +peak.toFixed(1);
}
for (const size of SIZES) {
  fixture(size);
  for (const mode of ['baseline', 'wasm', 'webcrypto']) {
    const b = await openPage('pkg');
    const r = await b.page.evaluate(([m, s]) => window.benchMemory(m, s), [mode, size]);
    results.memory.push({ size_mb: size / MB, mode, ...r, renderer_peak_rss_mb: rendererPeakMb(b.userDataDir) });
    await b.close();
  }
}
server.close();

// ---- report -------------------------------------------------------------------------------
function machine() {
  const cpu = os.cpus()[0]?.model ?? '?';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`;
}
const lines = [];
lines.push(`date ${results.date}; ${results.machine}; ${results.browser} (${CHROMIUM_PATH})`, '');
lines.push('| runtime | build | size | authmedia stream MB/s | WebCrypto one-shot MB/s |', '|---|---|---|---|---|');
for (const size of SIZES) {
  const n = results.native.filter((r) => r.size_mb === size / MB);
  const get = (m) => n.find((r) => r.mode === m)?.median_mb_s ?? '-';
  lines.push(`| native | release | ${size / MB} MB | ${get('stream-64KiB')} (one-shot in place ${get('one-shot-in-place')}) | - |`);
  for (const [label, by] of Object.entries(results.chromium)) {
    const r = by[size / MB];
    lines.push(`| Chromium | wasm ${label} | ${size / MB} MB | ${r['authmedia-wasm-stream'].median_mb_s} | ${r['webcrypto-one-shot'].median_mb_s} |`);
  }
}
lines.push('', 'Breakdown in Chromium (median MB/s):', '', '| build | size | wasm SHA-256 only | wasm AES-CTR only (incl. a copy) | WebCrypto SHA-256 only |', '|---|---|---|---|---|');
for (const size of SIZES) for (const [label, by] of Object.entries(results.chromium)) {
  const r = by[size / MB];
  lines.push(`| ${label} | ${size / MB} MB | ${r['wasm-sha256-only']?.median_mb_s} | ${r['wasm-aes-ctr-only']?.median_mb_s} | ${r['webcrypto-sha256-only']?.median_mb_s} |`);
}
lines.push('', '| size | mode | time ms (incl. fetch) | renderer peak RSS MB | wasm memory MB | JS heap delta MB |', '|---|---|---|---|---|---|');
for (const r of results.memory) lines.push(`| ${r.size_mb} MB | ${r.mode} | ${r.ms} | ${r.renderer_peak_rss_mb} | ${r.wasm_memory_mb} | ${r.js_heap_used_delta_mb} |`);
console.log(lines.join('\n'));
mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(path.join(ROOT, 'bench/results/crypto.json'), JSON.stringify(results, null, 1));
process.exit(0);
