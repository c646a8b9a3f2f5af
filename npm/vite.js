// matrix-authmedia/vite: a Vite plugin that ships the service worker with the app.
//
// - `vite dev`: serves `<base>authmedia-sw.js`, `<base>authmedia_sw_bg.wasm` and
//   `<base>authmedia_sw_crypto_bg.wasm` (the decryption module the worker fetches on its first
//   encrypted attachment) from this package, so the files in node_modules are the ones the
//   browser runs (no stale copies);
// - `vite build`: emits these files at the root of the output directory, i.e. at the app's `base`;
// - both: adds `<meta name="matrix-authmedia-worker" content="<base>authmedia-sw.js">` to every
//   HTML page, which `AuthMedia.init` reads when it is given no `workerUrl`. A meta element rather
//   than an inline script: it works under a Content-Security-Policy without 'unsafe-inline', and
//   the same tag can be written by hand where there is no plugin;
// - keeps this package out of Vite's dependency pre-bundling: the pre-bundled copy would live
//   elsewhere, and the page wasm's `new URL('./dist/…wasm', import.meta.url)` would point nowhere.
//
// Nothing here imports Vite: the plugin is a plain object, so it works with any Vite that has
// these hooks (5 and later).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The worker files, as shipped in this package's `sw/` directory. */
export const WORKER_FILES = Object.freeze({
  'authmedia-sw.js': 'text/javascript; charset=utf-8',
  'authmedia_sw_bg.wasm': 'application/wasm',
  'authmedia_sw_crypto_bg.wasm': 'application/wasm',
});

/** The name of the meta element that tells the page SDK where the worker script is. */
export const WORKER_META_NAME = 'matrix-authmedia-worker';

const PACKAGE_NAME = 'matrix-authmedia';

function workerFile(name) {
  const file = fileURLToPath(new URL(`./sw/${name}`, import.meta.url));
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`matrix-authmedia/vite: ${file} is missing (a broken install of matrix-authmedia?): ${e.message}`);
  }
}

/**
 * The URL path prefix of the app (Vite's `base`), ending in "/". A relative base ("./" or "")
 * stays relative: the meta element's URL is then resolved against the page's address.
 */
function normaliseBase(base) {
  if (typeof base !== 'string' || base === '' || base === './') return './';
  // A full URL base (a CDN) cannot host a service worker for the page's origin: the worker must
  // come from the page's own origin, so only its path is used.
  let path = base;
  if (/^[a-z][a-z0-9+.-]*:/i.test(base)) {
    try {
      path = new URL(base).pathname;
    } catch {
      path = '/';
    }
  }
  return path.endsWith('/') ? path : `${path}/`;
}

/**
 * The plugin. It takes no options: the worker files keep their names (`authmedia-sw.js`, and
 * `authmedia_sw_bg.wasm` and `authmedia_sw_crypto_bg.wasm`, which the worker loads from next to
 * itself), at the app's `base`.
 */
export default function authmedia() {
  const scriptName = 'authmedia-sw.js';
  const served = {
    [scriptName]: { source: 'authmedia-sw.js', type: WORKER_FILES['authmedia-sw.js'] },
    'authmedia_sw_bg.wasm': { source: 'authmedia_sw_bg.wasm', type: WORKER_FILES['authmedia_sw_bg.wasm'] },
    'authmedia_sw_crypto_bg.wasm': { source: 'authmedia_sw_crypto_bg.wasm', type: WORKER_FILES['authmedia_sw_crypto_bg.wasm'] },
  };
  let base = '/';

  return {
    name: 'matrix-authmedia',

    config() {
      return { optimizeDeps: { exclude: [PACKAGE_NAME] } };
    },

    configResolved(config) {
      base = normaliseBase(config.base);
    },

    configureServer(server) {
      // Read on every request: an upgrade of the package is picked up without a restart.
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0];
        const prefix = base === './' ? '/' : base;
        if (!path.startsWith(prefix)) return next();
        const entry = served[path.slice(prefix.length)];
        if (!entry || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
        const body = workerFile(entry.source);
        res.statusCode = 200;
        res.setHeader('Content-Type', entry.type);
        res.setHeader('Content-Length', String(body.length));
        // The browser checks for a new worker on every navigation; never serve it stale.
        res.setHeader('Cache-Control', 'no-cache');
        res.end(req.method === 'HEAD' ? undefined : body);
      });
    },

    generateBundle() {
      for (const [fileName, entry] of Object.entries(served)) {
        this.emitFile({ type: 'asset', fileName, source: workerFile(entry.source) });
      }
    },

    transformIndexHtml() {
      return [
        {
          tag: 'meta',
          attrs: { name: WORKER_META_NAME, content: `${base}${scriptName}` },
          injectTo: 'head-prepend',
        },
      ];
    },
  };
}
