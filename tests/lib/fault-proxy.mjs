/**
 * A fault-injecting HTTP forwarding proxy on loopback, put between the browser and Synapse: it forwards
 * everything to `target` and records what it saw, unless a fault rule says otherwise.
 *
 * API:
 *   startFaultProxy({ target, port = 0, host = '127.0.0.1' }) → Promise<FaultProxy>
 *     target: the upstream origin, e.g. world.synapse.baseUrl ("http://127.0.0.1:8008").
 *   FaultProxy:
 *     origin, port, url(path)             "http://127.0.0.1:PORT", origin + path
 *     requests                            [{ method, path, url, headers, status, time, faulted, fault, doneTime }]
 *                                         every request seen, in order of arrival (OPTIONS preflights too);
 *                                         headers lower-cased as Node gives them; `status` is the status
 *                                         answered (undefined until the answer starts, and forever for a
 *                                         stalled or reset request); `faulted` is true when a rule applied,
 *                                         `fault` then names the action ('status'|'stall'|'reset'|'delay'|
 *                                         'rewrite');
 *                                         `doneTime` is set when the answer ended (or the socket was reset)
 *     clear()                             forget recorded requests
 *     count(pred) → number                recorded requests matching pred (a function of the request, or a
 *                                         matcher object as for fault(); no argument: all)
 *     waitFor(pred, timeoutMs = 10000) → Promise<req>
 *                                         the first recorded request matching pred; re-checked whenever a
 *                                         request arrives or its answer starts/ends (so `r => r.status === 429`
 *                                         works), rejects after timeoutMs
 *     fault(match, action) → id           add a rule. Rules are tried in the order added; the first that
 *                                         matches (and is not used up) applies.
 *        match:  (req) => boolean, called with the request record above (status not yet set), or
 *                { pathIncludes?: string, method?: string }. An object without `method` matches every
 *                method except OPTIONS, so a fault on a media path leaves the CORS preflight alone and the
 *                browser sees the fault itself; give method: 'OPTIONS' to fault preflights.
 *        action: { status, headers?, body?, times? }  answer this instead of forwarding. `body`: a string,
 *                                                     a Buffer, or an object (sent as JSON, with
 *                                                     Content-Type application/json unless headers say otherwise)
 *                { stall: true, times? }              accept and never answer (socket kept open until close(),
 *                                                     or until the client gives up)
 *                { reset: true, times? }              destroy the socket at once (a connection error)
 *                { delayMs, times? }                  forward after a delay
 *                { rewrite: { headers?, range? }, times? }
 *                                                     forward, then change the answer as a reverse proxy
 *                                                     or CDN in front of the homeserver would:
 *                                                     `headers(h, req)` edits the upstream answer's headers
 *                                                     (lower-case names, a plain object) in place;
 *                                                     `range: true` answers a request with one
 *                                                     `Range: bytes=a-b` (or `a-`, `-n`) whose upstream answer
 *                                                     is a 200 with 206 and that slice (416 when it cannot be
 *                                                     satisfied), buffering the body
 *        times:  apply the rule only that many times, then it is used up (default: forever)
 *     removeFault(id), clearFaults()
 *     faults                              the live rules [{ id, match, action, remaining, hits }]
 *     down(bool)                          while true, every new connection is destroyed at once and
 *                                         down(true) also destroys every open connection (like a stopped
 *                                         server: connection refused/reset, not an HTTP error)
 *     close() → Promise                   destroys every connection (stalled ones too) and stops
 *
 * Forwarding: method, path, headers (Host rewritten to the target's; hop-by-hop headers dropped) and
 * body go upstream as they came; the answer's status and headers come back unchanged (Synapse's CORS
 * headers pass through; preflights are forwarded too) and its body is streamed. If the target cannot
 * be reached (e.g. Synapse is stopped) the proxy answers 502 with a Matrix error body (M_UNKNOWN),
 * like a reverse proxy in front of a stopped homeserver, recorded with faulted: false.
 *
 * Every answer the proxy makes itself (faults, 502) carries `Access-Control-Allow-Origin: *`,
 * `Access-Control-Expose-Headers: *` (so e.g. Retry-After is readable) and, for preflights, allows the
 * requested method and headers: the browser sees the fault, not a CORS failure.
 */
import http from 'node:http';
import { listen } from '../../support/procs.mjs';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/** CORS headers for an answer the proxy makes itself. */
function corsFor(req) {
  const h = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': '*',
    'Cache-Control': 'no-store',
  };
  if (req.method === 'OPTIONS') {
    h['Access-Control-Allow-Methods'] = String(
      req.headers['access-control-request-method'] ?? 'GET, HEAD, POST, PUT, DELETE, OPTIONS',
    );
    const requested = req.headers['access-control-request-headers'];
    if (requested) h['Access-Control-Allow-Headers'] = String(requested);
    h['Access-Control-Max-Age'] = '0';
  }
  return h;
}

/**
 * A predicate from a matcher: a function, an object { pathIncludes?, method? }, or nothing (all).
 * @param {any} match
 * @returns {(r: any) => boolean}
 */
function toPredicate(match) {
  if (match === undefined || match === null) return () => true;
  if (typeof match === 'function') return match;
  if (typeof match === 'object') {
    const { pathIncludes, method } = match;
    return (r) => {
      if (method !== undefined) {
        if (r.method !== String(method).toUpperCase()) return false;
      } else if (r.method === 'OPTIONS') {
        return false;
      }
      if (pathIncludes !== undefined && !r.url.includes(pathIncludes)) return false;
      return true;
    };
  }
  throw new TypeError('fault-proxy: a matcher is a function or { pathIncludes?, method? }');
}

/**
 * One `bytes=a-b` / `bytes=a-` / `bytes=-n` range, or null (absent, several, or another unit).
 * @param {string | undefined} header
 * @returns {{start: number | null, end: number | null} | null}
 */
function parseRange(header) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(header ?? '').trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  return { start: m[1] === '' ? null : Number(m[1]), end: m[2] === '' ? null : Number(m[2]) };
}

/**
 * Buffers a 200 answer and sends the requested slice as 206 (416 when unsatisfiable).
 * @param {any} req
 * @param {any} res
 * @param {any} record
 * @param {import('node:http').IncomingMessage} upRes
 * @param {Record<string, any>} headers
 * @param {{start: number | null, end: number | null}} range
 * @param {(record: any, status: number) => void} setStatus
 */
function answerRange(req, res, record, upRes, headers, range, setStatus) {
  /** @type {Buffer[]} */
  const chunks = [];
  upRes.on('data', (c) => chunks.push(c));
  upRes.on('error', () => res.destroy());
  upRes.on('end', () => {
    if (res.destroyed) return;
    const body = Buffer.concat(chunks);
    const size = body.length;
    const start = range.start ?? Math.max(0, size - (range.end ?? 0));
    const end = range.start === null ? size - 1 : Math.min(range.end ?? size - 1, size - 1);
    const out = { ...headers, 'accept-ranges': 'bytes' };
    delete out['transfer-encoding'];
    if (size === 0 || start >= size || start > end) {
      out['content-range'] = `bytes */${size}`;
      out['content-length'] = '0';
      res.writeHead(416, out);
      setStatus(record, 416);
      res.end();
      return;
    }
    out['content-range'] = `bytes ${start}-${end}/${size}`;
    out['content-length'] = String(end - start + 1);
    res.writeHead(206, out);
    setStatus(record, 206);
    res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
  });
}

/** @param {any} action */
function actionKind(action) {
  if (!action || typeof action !== 'object') throw new TypeError('fault-proxy: an action is an object');
  if (action.rewrite) return 'rewrite';
  if (action.stall) return 'stall';
  if (action.reset) return 'reset';
  if (typeof action.status === 'number') return 'status';
  if (typeof action.delayMs === 'number') return 'delay';
  throw new TypeError(
    'fault-proxy: an action is { status } | { stall: true } | { reset: true } | { delayMs } | { rewrite }',
  );
}

/**
 * From now on `proxy` refuses `token` on every request but preflights, as a homeserver that
 * revoked it: 401 `M_UNKNOWN_TOKEN` (soft logout) with `error` as its text.
 */
export function revokeToken(proxy, token, error = 'Access token has expired') {
  return proxy.fault((r) => r.method !== 'OPTIONS' && r.headers.authorization === `Bearer ${token}`, {
    status: 401,
    body: { errcode: 'M_UNKNOWN_TOKEN', error, soft_logout: true },
  });
}

/**
 * @param {{target: string, port?: number, host?: string}} opts
 */
export async function startFaultProxy(opts) {
  if (!opts || typeof opts.target !== 'string') throw new TypeError('fault-proxy: target origin required');
  const target = new URL(opts.target);
  const host = opts.host ?? '127.0.0.1';
  const agent = new http.Agent({ keepAlive: true });

  /** @type {any[]} */
  const requests = [];
  /** @type {{id: number, match: any, pred: (r: any) => boolean, action: any, kind: string, remaining: number, hits: number}[]} */
  const faults = [];
  let nextId = 1;
  let isDown = false;
  let closed = false;
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set();
  /** @type {{pred: (r: any) => boolean, resolve: Function, reject: Function, timer: NodeJS.Timeout}[]} */
  const waiters = [];

  /** Re-check the waiters against one changed request. */
  function notify(record) {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      let hit = false;
      try {
        hit = Boolean(w.pred(record));
      } catch (err) {
        waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.reject(err);
        continue;
      }
      if (hit) {
        waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(record);
      }
    }
  }

  function setStatus(record, status) {
    record.status = status;
    notify(record);
  }

  function setDone(record) {
    if (record.doneTime !== undefined) return;
    record.doneTime = Date.now();
    notify(record);
  }

  /** The first live rule matching the request; uses one of its `times`. */
  function pickFault(record) {
    for (const rule of faults) {
      if (rule.remaining <= 0) continue;
      if (!rule.pred(record)) continue;
      rule.remaining -= 1;
      rule.hits += 1;
      return rule;
    }
    return null;
  }

  function answerError(req, res, record, status, body, extraHeaders = {}) {
    if (res.headersSent || res.destroyed) return;
    let payload = body ?? '';
    const headers = { ...corsFor(req) };
    if (payload !== '' && typeof payload === 'object' && !Buffer.isBuffer(payload)) {
      payload = JSON.stringify(payload);
      headers['Content-Type'] = 'application/json';
    }
    Object.assign(headers, extraHeaders);
    headers['Content-Length'] = String(Buffer.byteLength(payload));
    res.on('finish', () => setDone(record));
    res.writeHead(status, headers);
    setStatus(record, status);
    res.end(req.method === 'HEAD' ? undefined : payload);
  }

  /**
   * @param {any} req
   * @param {any} res
   * @param {any} record
   * @param {{headers?: (h: Record<string, any>, r: any) => void, range?: boolean}} [rewrite]
   */
  function forward(req, res, record, rewrite) {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(k)) continue;
      headers[k] = v;
    }
    headers.host = target.host;
    const up = http.request({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    up.on('response', (upRes) => {
      const out = {};
      for (const [k, v] of Object.entries(upRes.headers)) {
        if (HOP_BY_HOP.has(k) || v === undefined) continue;
        out[k] = v;
      }
      if (res.destroyed) {
        upRes.resume();
        return;
      }
      if (rewrite?.headers) rewrite.headers(out, record);
      const range = rewrite?.range && upRes.statusCode === 200 ? parseRange(req.headers.range) : null;
      if (range) {
        answerRange(req, res, record, upRes, out, range, setStatus);
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      setStatus(record, upRes.statusCode);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      answerError(req, res, record, 502, {
        errcode: 'M_UNKNOWN',
        error: `fault-proxy: upstream ${target.origin} unreachable: ${err.message}`,
      });
    });
    // The client went away before the answer ended: stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
      setDone(record);
    });
    req.pipe(up);
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const record = {
      method: req.method ?? '',
      path: new URL(url, 'http://x').pathname,
      url,
      headers: { ...req.headers },
      status: undefined,
      time: Date.now(),
      faulted: false,
      fault: undefined,
      doneTime: undefined,
    };
    const rule = pickFault(record);
    if (rule) {
      record.faulted = true;
      record.fault = rule.kind;
    }
    requests.push(record);
    notify(record);

    if (!rule) {
      forward(req, res, record);
      return;
    }
    const action = rule.action;
    switch (rule.kind) {
      case 'status':
        req.resume();
        answerError(req, res, record, action.status, action.body, action.headers ?? {});
        return;
      case 'stall':
        // Read the body (so the client is not blocked writing it) and never answer.
        req.resume();
        res.on('close', () => setDone(record));
        return;
      case 'reset':
        req.socket.destroy();
        setDone(record);
        return;
      case 'rewrite':
        forward(req, res, record, action.rewrite);
        return;
      case 'delay': {
        req.pause();
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (closed || req.destroyed) return;
          forward(req, res, record);
          req.resume();
        }, action.delayMs);
        timers.add(timer);
        return;
      }
      default:
        answerError(req, res, record, 500, { errcode: 'M_UNKNOWN', error: 'fault-proxy: bad rule' });
    }
  });
  server.on('connection', (socket) => {
    if (isDown || closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client that resets mid-request must not crash the test process.
  server.on('clientError', (_err, socket) => socket.destroy());

  const { port, origin } = await listen(server, { port: opts.port ?? 0, host });

  return {
    origin,
    port,
    target: target.origin,
    requests,
    faults,
    /** @param {string} [p] */
    url: (p = '/') => origin + (p.startsWith('/') ? p : '/' + p),
    clear() {
      requests.length = 0;
    },
    /** @param {any} [pred] */
    count(pred) {
      const p = toPredicate(pred);
      let n = 0;
      for (const r of requests) if (p(r)) n += 1;
      return n;
    },
    /**
     * @param {any} pred
     * @param {number} [timeoutMs]
     * @returns {Promise<any>}
     */
    waitFor(pred, timeoutMs = 10_000) {
      const p = toPredicate(pred);
      const found = requests.find(p);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          pred: p,
          resolve,
          reject,
          timer: setTimeout(() => {
            const i = waiters.indexOf(waiter);
            if (i >= 0) waiters.splice(i, 1);
            reject(new Error(`fault-proxy: no matching request at ${origin} within ${timeoutMs} ms (${requests.length} seen)`));
          }, timeoutMs),
        };
        waiters.push(waiter);
      });
    },
    /**
     * @param {any} match
     * @param {any} action
     * @returns {number}
     */
    fault(match, action) {
      const kind = actionKind(action);
      const times = action.times === undefined ? Infinity : Number(action.times);
      if (!(times >= 0)) throw new TypeError('fault-proxy: times must be a non-negative number');
      const id = nextId++;
      faults.push({ id, match, pred: toPredicate(match), action, kind, remaining: times, hits: 0 });
      return id;
    },
    /** @param {number} id */
    removeFault(id) {
      const i = faults.findIndex((f) => f.id === id);
      if (i >= 0) faults.splice(i, 1);
    },
    clearFaults() {
      faults.length = 0;
    },
    /** @param {boolean} value */
    down(value) {
      isDown = Boolean(value);
      if (isDown) for (const s of sockets) s.destroy();
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error('fault-proxy: closed'));
      }
      for (const s of sockets) s.destroy();
      agent.destroy();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
