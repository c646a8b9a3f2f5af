/**
 * CPU time of a browser's service-worker thread, read from the kernel (Linux /proc), with no
 * tracing at all: what bench/compare.mjs reports as "worker thread CPU".
 *
 *   swThreadCpuNs(userDataDir) → { ns, threads } | null
 *     the sum of the on-CPU time (ns, /proc/<pid>/task/<tid>/schedstat, first field) of every
 *     thread named "ServiceWorker thread" (the kernel keeps 15 characters: "ServiceWorker t")
 *     in the processes of the Chromium started with `userDataDir` (a renderer does not carry the
 *     flag itself: its parent chain leads to the browser process that does). Other browsers on
 *     the machine are not counted. null when no such thread runs.
 *
 * Why not a trace: the `toplevel` trace event `ThreadControllerImpl::RunTask` wraps only the
 * thread's mojo tasks, not the Blink-scheduled ones (fetch events, promise jobs, timers) where a
 * worker's JS and wasm run, so a sum of those tasks misses most of the work of a busy worker; and
 * the categories that do wrap every task (`disabled-by-default-devtools.timeline`, with `v8` and
 * `devtools.timeline`) add their own cost to every traced API call — more to a worker that makes
 * many such calls. The kernel's counter includes everything the thread ran (JS, wasm, lazy wasm
 * compilation, GC on that thread, Blink and mojo work) and costs nothing to read.
 */
import { readdirSync, readFileSync } from 'node:fs';

const read = (p) => {
  try { return readFileSync(p, 'utf8'); } catch { return null; }
};
/** The parent pid from /proc/<pid>/stat (the field after the parenthesised command name). */
const parentOf = (pid) => {
  const stat = read(`/proc/${pid}/stat`);
  return stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : 0;
};
function startedWith(pid, userDataDir) {
  for (let p = pid, depth = 0; p > 1 && depth < 8; p = parentOf(p), depth++) {
    if ((read(`/proc/${p}/cmdline`) ?? '').includes(userDataDir)) return true;
  }
  return false;
}

export function swThreadCpuNs(userDataDir) {
  let ns = 0;
  let threads = 0;
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let tids;
    try { tids = readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tids) {
      if (!(read(`/proc/${pid}/task/${tid}/comm`) ?? '').startsWith('ServiceWorker')) continue;
      if (!startedWith(Number(pid), userDataDir)) continue;
      const sched = read(`/proc/${pid}/task/${tid}/schedstat`);
      if (sched == null) continue;
      ns += Number(sched.split(' ')[0]);
      threads++;
    }
  }
  return threads ? { ns, threads } : null;
}
