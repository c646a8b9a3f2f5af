// Where the worker thread's CPU goes in a gallery, by the nearest JavaScript or wasm frame: Linux
// `perf` samples the "ServiceWorker thread" (call graphs, V8's `--perf-basic-prof` map for JIT
// code) while N distinct 96×96 thumbnails load through one variant of the bench page ('d' the
// authmedia worker of NPM, 'g' the same-work JS worker bench/pages/sw-full.js, 'b' the minimal
// worker), after one warm-up image. Each sample is attributed to the first JS/wasm frame on its
// stack: "self <f>" when the sample is in JIT code itself, "native under <f>" when the leaf is
// native code (Blink, V8 runtime and builtins: Chromium's binary has no symbols here) called by
// <f>; a glue function is shown by the start of its source in the shipped script (names are
// minified). Samples with no JS frame at all (the event loop, IPC, the kernel) are one line. Wasm
// functions have names only in a build made with `wasm-opt -g` (see the worker's build script);
// otherwise they are `wasm-function[N]`. Figures are inflated by the profiling itself: compare
// variants of one run, do not read them as the benchmark's CPU time (bench/compare.mjs ONLY=cpu).
//   NPM=npm SETUP=d N=200 TOP=40 node bench/ab/worker-perf.mjs      (needs `perf`, run as root)
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchWorld } from '../lib/world.mjs';
import { startSite, closeSite, openBrowser, evaluate } from '../lib/common.mjs';

const N = Number(process.env.N ?? 200);
const TOP = Number(process.env.TOP ?? 40);
const SETUP = process.env.SETUP ?? 'd';
const NPM = path.resolve(process.env.NPM ?? new URL('../../npm', import.meta.url).pathname);
const DATA = path.join(os.tmpdir(), `worker-perf-${process.pid}.data`);

const read = (p) => {
  try { return readFileSync(p, 'utf8'); } catch { return null; }
};
const parentOf = (pid) => {
  const stat = read(`/proc/${pid}/stat`);
  return stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : 0;
};
/** The service-worker thread of the Chromium started with `userDataDir`: { pid, tid }. */
function swThread(userDataDir) {
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let tids;
    try { tids = readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tids) {
      if (!(read(`/proc/${pid}/task/${tid}/comm`) ?? '').startsWith('ServiceWorker')) continue;
      for (let p = Number(pid), depth = 0; p > 1 && depth < 8; p = parentOf(p), depth++) {
        if ((read(`/proc/${p}/cmdline`) ?? '').includes(userDataDir)) return { pid, tid };
      }
    }
  }
  throw new Error('no service-worker thread');
}

const world = await startBenchWorld({ nPre: 1, nPost: N + 1, warmExtra: 0, log: (m) => console.error(m) });
const site = await startSite({ npmDir: NPM });
const b = await openBrowser(site, world, { args: ['--js-flags=--perf-basic-prof'] });
let pid;
try {
  await evaluate(b, (s) => window.bench.setup(s), SETUP);
  await evaluate(b, ([s, m]) => window.bench.gallery(s, m), [SETUP, world.post.slice(N, N + 1)]);
  const thread = swThread(b.userDataDir);
  pid = thread.pid;
  const perf = spawn('perf', ['record', '-q', '-F', '10000', '-g', '-t', thread.tid, '-o', DATA], { stdio: 'inherit' });
  await new Promise((r) => setTimeout(r, 300));
  const r = await evaluate(b, ([s, m]) => window.bench.gallery(s, m), [SETUP, world.post.slice(0, N)]);
  perf.kill('SIGINT');
  await new Promise((r) => perf.on('exit', r));
  if (r.ok !== N) throw new Error(`only ${r.ok} of ${N} loaded`);
} finally {
  await b.close();
  await closeSite(site);
  await world.stop();
}

// Attribution (after the browser closed: its JIT map /tmp/perf-<pid>.map stays).
const script = execFileSync('perf', ['script', '-i', DATA, '-F', 'ip,sym'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
rmSync(DATA, { force: true });
const sources = new Map();
const sourceAt = (url, line, col) => {
  const file = url.replace(/^https?:\/\/[^/]+\//, '').replace(/\?.*$/, '');
  if (!sources.has(file)) {
    const f = [path.join(NPM, 'sw', file), path.join(new URL('../pages', import.meta.url).pathname, file)].find((x) => read(x) != null);
    sources.set(file, f ? read(f).split('\n') : null);
  }
  const lines = sources.get(file);
  return lines ? lines[line - 1]?.slice(col - 1, col + 59).replace(/\s+/g, ' ') : `${file}:${line}:${col}`;
};
const by = new Map();
let total = 0;
for (const sample of script.split('\n\n')) {
  const frames = sample.trim().split('\n').map((l) => l.trim().replace(/^[0-9a-f]+\s+/, '')).filter(Boolean);
  if (!frames.length) continue;
  total++;
  let key = '(no JS or wasm frame: event loop, IPC, kernel)';
  const i = frames.findIndex((f) => f.startsWith('JS:'));
  if (i >= 0) {
    let name = frames[i].slice(3).replace(/-(liftoff|turbofan)$/, '');
    const m = name.match(/^(\S*) (\S+):(\d+):(\d+)$/);
    if (m) name = `${m[1]} ${sourceAt(m[2], Number(m[3]), Number(m[4]))}`;
    key = `${i === 0 ? 'self' : 'native under'} ${name}`;
  }
  by.set(key, (by.get(key) ?? 0) + 1);
}
console.log(`${SETUP} (${NPM}), ${N} images: ${total} samples at 10 kHz (${pid ? `renderer ${pid}` : ''})`);
for (const [k, n] of [...by].sort((x, y) => y[1] - x[1]).slice(0, TOP)) console.log(`${String(n).padStart(6)}  ${(100 * n / total).toFixed(1).padStart(5)} %  ${k}`);
