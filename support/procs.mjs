/**
 * Child processes that must never outlive the test run.
 *
 * API:
 *   spawnGroup(cmd, args, {cwd, env, logFile, stdio, keepAlive}) → { child, pid, exited: Promise<{code, signal}>, kill(timeoutMs) }
 *       Starts `cmd` as the leader of a new process group (detached). `logFile` (optional) receives
 *       stdout and stderr (appended). `kill()` sends SIGTERM to the whole group, waits up to
 *       `timeoutMs` (default 10 s) for the leader to exit, then SIGKILLs the group. The child is
 *       unref'd unless `keepAlive`: it does not keep the parent alive (the parent's exit kills it).
 *   killAllGroups()   synchronous SIGKILL of every group still registered (used on exit).
 *   terminateAllGroups(timeoutMs) → SIGTERM every group, wait (bounded), SIGKILL what is left.
 *   waitUntil(fn, {timeoutMs, intervalMs, what}) → resolves with fn()'s first truthy value;
 *       rejects with an Error naming `what` after the deadline. A bounded poll, not a sleep.
 *       Errors thrown by fn are retried, except those with a truthy `fatal` property (rethrown).
 *   freePort() → Promise<number>   an unused TCP port on 127.0.0.1.
 *   listen(server, {port = 0, host = '127.0.0.1'}) → Promise<{port, origin}>
 *       Starts an http.Server listening (rejects on `error`, e.g. the port is taken).
 *   mapLimit(items, limit, fn) → Promise<results>   fn(item, i) over items, at most `limit` at a
 *       time; results in input order.
 *
 * On the parent's `exit` every registered group is SIGKILLed; on SIGINT, SIGTERM and SIGHUP they get
 * SIGTERM, up to 5 s, then SIGKILL, and the process exits with 128 + signal number (the default code).
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** @type {Set<number>} process-group ids (= leader pids) still alive */
const groups = new Set();
let hooksInstalled = false;

function killGroupSync(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/** SIGKILL every registered group, synchronously. Safe to call more than once. */
export function killAllGroups() {
  for (const pgid of groups) killGroupSync(pgid, 'SIGKILL');
  groups.clear();
}

/** SIGTERM every registered group, wait up to timeoutMs for them to go, then SIGKILL the rest. */
export async function terminateAllGroups(timeoutMs = 5000) {
  for (const pgid of groups) killGroupSync(pgid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && [...groups].some(groupAlive)) await delay(100);
  killAllGroups();
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllGroups);
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const [sig, num] of Object.entries(signals)) {
    process.once(sig, () => {
      // SIGTERM first so children can clean up their own children (a test file's browser
      // drivers), then SIGKILL whatever is left after a bounded wait.
      terminateAllGroups(5000).finally(() => process.exit(128 + num));
    });
  }
}

/**
 * Spawn a command as its own process group and register it for cleanup.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd?: string, env?: NodeJS.ProcessEnv, logFile?: string, stdio?: any, keepAlive?: boolean}} [opts]
 */
export function spawnGroup(cmd, args, opts = {}) {
  installHooks();
  let fd = null;
  let stdio = opts.stdio ?? 'ignore';
  if (opts.logFile) {
    fd = openSync(opts.logFile, 'a');
    stdio = ['ignore', fd, fd];
  }
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio,
    detached: true,
  });
  if (fd !== null) closeSync(fd);
  // By default the child does not keep the parent alive (the exit hook kills it when the parent
  // ends); `keepAlive: true` keeps the parent's event loop running until the child exits.
  if (!opts.keepAlive) child.unref();
  const pid = child.pid;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
    child.once('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  if (pid !== undefined) {
    groups.add(pid);
    exited.then(() => {
      // The leader is gone; kill stragglers in its group (e.g. Xvfb under xvfb-run) and forget it.
      killGroupSync(pid, 'SIGKILL');
      groups.delete(pid);
    });
  }
  let exitedFlag = false;
  exited.then(() => {
    exitedFlag = true;
  });
  return {
    child,
    pid,
    exited,
    get hasExited() {
      return exitedFlag;
    },
    /** SIGTERM the group, wait up to timeoutMs, then SIGKILL it. */
    async kill(timeoutMs = 10_000) {
      if (pid === undefined) return;
      if (!exitedFlag) {
        killGroupSync(pid, 'SIGTERM');
        const timer = delay(timeoutMs).then(() => 'timeout');
        const result = await Promise.race([exited.then(() => 'exited'), timer]);
        if (result === 'timeout') killGroupSync(pid, 'SIGKILL');
        await exited;
      }
      killGroupSync(pid, 'SIGKILL');
      groups.delete(pid);
    },
  };
}

/**
 * Poll `fn` until it returns a truthy value or the deadline passes.
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {{timeoutMs?: number, intervalMs?: number, what?: string}} [opts]
 * @returns {Promise<T>}
 */
export async function waitUntil(fn, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      if (err && err.fatal) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${lastError.message ?? lastError})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await delay(intervalMs);
  }
}

/** @returns {Promise<number>} a free TCP port on 127.0.0.1 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `server` listening on loopback.
 * @param {import('node:http').Server} server
 * @param {{port?: number, host?: string}} [opts]
 * @returns {Promise<{port: number, origin: string}>}
 */
export async function listen(server, { port = 0, host = '127.0.0.1' } = {}) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(undefined));
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : 0;
  return { port: bound, origin: `http://${host}:${bound}` };
}

/**
 * `fn(item, i)` over `items` with at most `limit` running at a time; results in input order.
 * @template T, R
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T, i: number) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}
