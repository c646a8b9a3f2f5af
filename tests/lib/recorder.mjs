/**
 * A recording server on loopback: "did a token reach another origin?" tests point requests at it.
 *
 * API:
 *   startRecorder({ port = 0, host = '127.0.0.1', routes? }) → Promise<Recorder>
 *   Recorder:
 *     origin, url(path)                   "http://127.0.0.1:PORT", origin + path
 *     requests                            [{ method, url, path, headers, time }] every request, in order
 *                                         (headers lower-cased, as Node gives them; OPTIONS preflights too)
 *     clear()                             forget recorded requests
 *     redirect(prefix, location, status = 307)
 *                                         answer requests whose path starts with `prefix` with a redirect
 *                                         to `location` (a string, or a function (url) => string)
 *     route(prefix, handler)              custom handler (req, res, url) for a path prefix
 *     waitFor(pred, timeoutMs = 10000)    resolves with the first recorded request matching pred
 *     withAuthorization()                 recorded requests that carried an Authorization header, plus
 *                                         preflights that announced one (Access-Control-Request-Headers)
 *     close()
 *   Default answer: 200 with a 1×1 PNG (so an <img> pointed here loads). Every answer is CORS-permissive
 *   (`Access-Control-Allow-Origin: *`, preflights allow any requested header, Authorization included):
 *   the recorder must never be the reason a leaked token failed to arrive.
 */
import http from 'node:http';
import { listen, waitUntil } from '../../support/procs.mjs';

/** A valid 1×1 transparent PNG. */
export const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

function corsHeaders(req) {
  const h = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, OPTIONS',
    'Access-Control-Max-Age': '0',
    'Cache-Control': 'no-store',
  };
  const requested = req.headers['access-control-request-headers'];
  if (requested) h['Access-Control-Allow-Headers'] = String(requested);
  return h;
}

/**
 * @param {{port?: number, host?: string, routes?: Record<string, Function>}} [opts]
 */
export async function startRecorder(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  /** @type {{method: string, url: string, path: string, headers: Record<string, any>, time: number}[]} */
  const requests = [];
  /** @type {{prefix: string, location: string | ((u: URL) => string), status: number}[]} */
  const redirects = [];
  /** @type {{prefix: string, handler: Function}[]} */
  const routes = Object.entries(opts.routes ?? {}).map(([prefix, handler]) => ({ prefix, handler }));

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      path: url.pathname,
      headers: { ...req.headers },
      time: Date.now(),
    });
    // Drain any body.
    req.resume();
    const cors = corsHeaders(req);
    try {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, cors).end();
        return;
      }
      const route = routes.find((r) => url.pathname.startsWith(r.prefix));
      if (route) {
        await route.handler(req, res, url);
        return;
      }
      const redirect = redirects.find((r) => url.pathname.startsWith(r.prefix));
      if (redirect) {
        const location = typeof redirect.location === 'function' ? redirect.location(url) : redirect.location;
        res.writeHead(redirect.status, { ...cors, Location: location, 'Content-Length': '0' }).end();
        return;
      }
      res.writeHead(200, { ...cors, 'Content-Type': 'image/png', 'Content-Length': String(PIXEL_PNG.length) });
      res.end(req.method === 'HEAD' ? undefined : PIXEL_PNG);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, cors);
      res.end(String(err));
    }
  });
  const { port, origin } = await listen(server, { port: opts.port ?? 0, host });

  return {
    origin,
    port,
    requests,
    /** @param {string} p */
    url: (p = '/') => origin + (p.startsWith('/') ? p : '/' + p),
    clear() {
      requests.length = 0;
    },
    /**
     * @param {string} prefix
     * @param {string | ((u: URL) => string)} location
     * @param {number} [status]
     */
    redirect(prefix, location, status = 307) {
      redirects.push({ prefix, location, status });
    },
    /** @param {string} prefix @param {Function} handler */
    route(prefix, handler) {
      routes.push({ prefix, handler });
    },
    /**
     * @param {(r: typeof requests[number]) => boolean} pred
     * @param {number} [timeoutMs]
     */
    waitFor(pred, timeoutMs = 10_000) {
      return waitUntil(() => requests.find(pred), { timeoutMs, intervalMs: 50, what: `a matching request at ${origin}` });
    },
    withAuthorization() {
      return requests.filter(
        (r) =>
          r.headers.authorization !== undefined ||
          String(r.headers['access-control-request-headers'] ?? '')
            .toLowerCase()
            .split(',')
            .map((s) => s.trim())
            .includes('authorization'),
      );
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve(undefined));
      }),
  };
}
