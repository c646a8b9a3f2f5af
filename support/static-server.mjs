/**
 * A static file server on loopback for test pages, the service worker and the demo.
 *
 * API:
 *   startStaticServer({ root, mounts?, port = 0, host = '127.0.0.1', routes?, headers? })
 *     → Promise<{ origin, url(path), port, requests, close() }>
 *   - `root`: directory served at "/" (optional if `mounts` is given).
 *   - `mounts`: { "/prefix/": "/some/dir", ... } — longest prefix wins; served before `root`.
 *   - `routes`: { "/path": (req, res, url) => void | Promise<void> } exact-path handlers, or a function
 *     `(req, res, url) => boolean | Promise<boolean>` that returns true when it answered. Run first.
 *   - `headers`: extra headers on every static response.
 *   - Every static response has the right MIME type (incl. `application/wasm`, `text/javascript`),
 *     `Service-Worker-Allowed: /` and `Cache-Control: no-store`. A directory serves its index.html.
 *     Paths escaping the served directory are 404. Only GET and HEAD serve files.
 *   - `requests`: array of { method, url, headers } for every request received (in order).
 *   - `origin` is like "http://127.0.0.1:PORT" (a secure context for service workers: loopback).
 */
import http from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listen } from './procs.mjs';

export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.d.ts': 'text/plain; charset=utf-8',
};

/** @param {string} file */
export function mimeType(file) {
  return MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Resolve `rel` (URL-decoded path below a mount) inside `dir`; null if it escapes. */
function resolveInside(dir, rel) {
  const base = path.resolve(dir);
  const full = path.resolve(base, '.' + path.posix.normalize('/' + rel));
  if (full !== base && !full.startsWith(base + path.sep)) return null;
  return full;
}

/**
 * @param {{root?: string, mounts?: Record<string,string>, port?: number, host?: string,
 *          routes?: Record<string, Function> | Function, headers?: Record<string,string>}} opts
 */
/**
 * Answers `req` with `file`: 200 with its type, length and `Cache-Control: no-store` (plus
 * `headers`), no body for HEAD; 404 when it is not a file.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 * @param {string} file
 * @param {Record<string, string>} [headers]
 */
export async function sendFile(req, res, file, headers = {}) {
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, {
    'Content-Type': mimeType(file),
    'Content-Length': String(st.size),
    'Cache-Control': 'no-store',
    ...headers,
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}

export async function startStaticServer(opts) {
  const host = opts.host ?? '127.0.0.1';
  const mounts = Object.entries(opts.mounts ?? {})
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', dir])
    .sort((a, b) => b[0].length - a[0].length);
  if (opts.root) mounts.push(['/', opts.root]);
  /** @type {{method: string, url: string, headers: Record<string, any>}[]} */
  const requests = [];

  const server = http.createServer(async (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    try {
      const url = new URL(req.url ?? '/', `http://${host}`);
      const routes = opts.routes;
      if (typeof routes === 'function') {
        if (await routes(req, res, url)) return;
      } else if (routes && Object.hasOwn(routes, url.pathname)) {
        await routes[url.pathname](req, res, url);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      let pathname;
      try {
        pathname = decodeURIComponent(url.pathname);
      } catch {
        res.writeHead(400).end('bad path');
        return;
      }
      const mount = mounts.find(([prefix]) => pathname.startsWith(prefix) || pathname + '/' === prefix);
      if (!mount) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      let file = resolveInside(mount[1], pathname.slice(mount[0].length));
      if (!file) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      const st = await stat(file).catch(() => null);
      if (st?.isDirectory()) file = path.join(file, 'index.html');
      await sendFile(req, res, file, { 'Service-Worker-Allowed': '/', ...(opts.headers ?? {}) });
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
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
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve(undefined));
      }),
  };
}
