/*
 * authmedia service worker — entry script (classic worker script, hand-written).
 *
 * Puts `Authorization: Bearer <token>` on Matrix authenticated-media requests (MSC3916) of the
 * tab's own homeserver, and on nothing else. The decisions and the fetch path are Rust compiled
 * to wasm (crates/sw); this script only does what must be JavaScript:
 *   - register the install/activate/fetch/message listeners synchronously on first evaluation
 *     (browsers ignore listeners added later);
 *   - start loading the wasm at once, and own the instance: a trapped (poisoned) instance is
 *     thrown away and a fresh one instantiated from the already compiled module;
 *   - call `respondWith` only for requests the worker handles — never for a navigation (a
 *     top-level `location.href = <media URL>`, an opener setting `w.location`, an iframe) or a
 *     destination that is not a media element or `fetch()`: those go to the network untouched,
 *     without the token (the core's `gate::admit_request` makes the same decision in the wasm);
 *   - before the wasm is ready (or for a tab it knows nothing about), take only requests whose
 *     URL looks like Matrix media, and let the wasm decide once it is ready.
 *
 * Two ways to use it (README, "Service worker"):
 *   1. As the site's whole worker: navigator.serviceWorker.register('/authmedia-sw.js').
 *   2. Inside an existing worker:
 *        self.AUTHMEDIA_SW_OPTIONS = { registerListeners: false };
 *        importScripts('/authmedia-sw.js');
 *        self.addEventListener('fetch', (event) => { if (self.authmedia.handleFetch(event)) return; ... });
 *        self.addEventListener('message', (event) => { if (self.authmedia.handleMessage(event)) return; ... });
 *
 * Options (`self.AUTHMEDIA_SW_OPTIONS`, set before this script runs), all optional:
 *   registerListeners  false in mode 2 (default true)
 *   wasmUrl            where `authmedia_sw_bg.wasm` is (default: next to the worker script)
 *   cryptoWasmUrl      where `authmedia_sw_crypto_bg.wasm` is, the decryption module fetched on
 *                      the first encrypted-attachment request only (default: next to the wasm)
 *   askTimeoutMs, negotiationTtlMs, storeBudgetBytes, storeEntryMaxBytes   passed to the wasm
 *   fetchTimeoutMs     a homeserver stalling this long (no headers, or no body progress) gets the
 *                      request aborted and answered 504 (default 30000, clamped to 1000..600000)
 *   retryMaxAttempts   attempts per media fetch, first included (default 4, 1..10)
 *   retryMaxWaitMs     total wait between attempts (default 20000, 0..120000)
 *   (all passed to the wasm; garbage values fall back to the defaults)
 *   performanceMarks   true: User Timing marks `authmedia-sw:wasm-ready` and
 *                      `authmedia-sw:session-stored` (also on with a `performanceMarks` parameter
 *                      in the worker script's URL); off by default
 *
 * `scripts/build-sw.sh` replaces the GLUE markers below with the wasm-bindgen glues (the worker's
 * and the decryption module's) wrapped in factory functions, and writes sw/dist/authmedia-sw.js;
 * this file is not usable unbuilt.
 */
'use strict';

(function (scope) {
  if (scope.authmedia) return; // evaluated twice (importScripts in both modes): keep the first.

  const options = Object.assign({}, scope.AUTHMEDIA_SW_OPTIONS || {});
  const registerListeners = options.registerListeners !== false;
  const wasmUrl = new URL(options.wasmUrl || 'authmedia_sw_bg.wasm', scope.location.href).href;
  const cryptoWasmUrl = new URL(options.cryptoWasmUrl || 'authmedia_sw_crypto_bg.wasm', wasmUrl).href;
  const READY_TIMEOUT_MS = 15000;
  // User Timing marks of the worker's start (`authmedia-sw:*`), off unless asked for: with
  // `performanceMarks: true` here or a `performanceMarks` parameter in the worker script's URL
  // (`register('/authmedia-sw.js?performanceMarks')`: the page cannot set this file's options).
  const marks =
    options.performanceMarks === true ||
    new URL(scope.location.href).searchParams.has('performanceMarks');
  function mark(name) {
    if (marks) {
      try {
        performance.mark(name);
      } catch {
        // no User Timing here: no mark
      }
    }
  }

  // Route codes of AuthMediaWorker.route: crates/js/src/protocol.rs (tests/e2e/protocol.test.mjs
  // checks that these are the same).
  const ROUTE_OTHER = 0;
  const ROUTE_MEDIA = 1;
  const ROUTE_UNKNOWN = 2;
  const ROUTE_NO_SESSION = 3;

  // Matrix media download/thumbnail paths under any prefix: v1, the MSC3916 unstable prefix and
  // the legacy v3/r0 endpoints. A cheap check for requests that arrive before the worker knows
  // the tab's session; the exact decision is the core's `classify` once it does.
  const MEDIA_PATH =
    /\/_matrix\/(?:client\/v1\/media|client\/unstable\/org\.matrix\.msc3916\/media|media\/v3|media\/r0)\/(?:download|thumbnail)\//;

  // Encrypted attachments the worker serves itself (crates/sw/src/encrypted/): every GET under
  // this prefix of the worker's scope is answered by the wasm, never by the network.
  const ENCRYPTED_PREFIX = new URL(
    'authmedia/encrypted/',
    scope.registration ? scope.registration.scope : scope.location.href,
  ).href;

  // `Request.destination` values the worker answers: fetch() ('') and media elements. The same
  // list as the core's `gate::MEDIA_DESTINATIONS` (checked by a test of the built worker).
  const MEDIA_DESTINATIONS = ['', 'image', 'audio', 'video', 'track'];

  /** Whether the request may be answered with authenticated media at all (before any wasm). */
  function isMediaRequest(request) {
    if (request.mode === 'navigate') return false;
    return MEDIA_DESTINATIONS.includes(request.destination || '');
  }

  function looksLikeMedia(url) {
    const q = url.indexOf('?');
    return MEDIA_PATH.test(q < 0 ? url : url.slice(0, q));
  }

  // The same JSON shape and headers as the wasm's error answers (crates/sw/src/net.rs
  // error_response), `authmedia-code` included.
  function errorResponse(status, errcode, authmediaCode, error) {
    return new Response(JSON.stringify({ errcode, error, authmedia_code: authmediaCode }), {
      status,
      headers: {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'authmedia-code': authmediaCode,
      },
    });
  }

  /* @@AUTHMEDIA_GLUE@@ */

  /* @@AUTHMEDIA_CRYPTO_GLUE@@ */

  // ----- the decryption module, on demand -------------------------------------------------------
  // Encrypted attachments are verified and decrypted by a module of their own (crates/sw-crypto),
  // fetched on the first one: a worker that never serves an attachment never downloads it. A
  // service worker cannot import() after install, but it can fetch and instantiate at any time.
  // The worker's wasm downloads the ciphertext (with the token) and calls `decrypt` with the
  // bytes and the file; the token never reaches this module.
  let decryptor = null; // Promise of the instantiated module's glue; dropped when it fails

  function loadDecryptor() {
    if (!decryptor) {
      decryptor = (async () => {
        const response = await fetch(cryptoWasmUrl, { credentials: 'same-origin' });
        if (!response.ok) throw new Error(`${cryptoWasmUrl}: HTTP ${response.status}`);
        const glue = createAuthmediaCryptoGlue();
        await glue({ module_or_path: await WebAssembly.compile(await response.arrayBuffer()) });
        return glue;
      })();
      decryptor.catch(() => {
        decryptor = null; // try again on the next attachment
      });
    }
    return decryptor;
  }

  /**
   * `decrypt(fileJson, ciphertext)` for the worker's wasm (`ciphertext`: the downloaded body, a
   * Blob): the plaintext, or its error answer.
   */
  async function decrypt(file, ciphertext) {
    let glue;
    try {
      glue = await loadDecryptor();
    } catch (error) {
      // The client code the page knows for a wasm that did not load (the fallback says the same
      // when its decryption module does not load); `errcode` and the text say which one.
      throw {
        status: 503,
        errcode: 'AUTHMEDIA_DECRYPTOR_UNAVAILABLE',
        authmedia_code: 'wasm_load_failed',
        error: `authmedia service worker: the decryption module did not load: ${error}`,
      };
    }
    try {
      return await glue.decryptFile(file, new Uint8Array(await ciphertext.arrayBuffer()));
    } catch (error) {
      if (!isTrap(error)) throw error; // a refusal, already in the answer's shape
      decryptor = null; // a trapped instance is not used again: the next attachment loads afresh
      throw {
        status: 500,
        errcode: 'M_UNKNOWN',
        authmedia_code: 'internal',
        error: `authmedia service worker: internal error: ${error}`,
      };
    }
  }

  // ----- the wasm instance ---------------------------------------------------------------------
  let compiled = null; // Promise<WebAssembly.Module>, kept across re-instantiations
  let current = null; // the ready instance {worker, waiting, kill, died}
  let pending = null; // Promise of the next instance
  // Handed to each instance and reported in `authmedia:stats`: counters restart with an instance,
  // and this tells a trapped instance's replacement (same `startedAt`, `replaced` grows) from the
  // browser starting the worker again (a new `startedAt`).
  const lineage = { startedAt: Date.now(), replaced: 0, lastTrap: null };

  function compile() {
    if (!compiled) {
      compiled = fetch(wasmUrl, { credentials: 'same-origin' }).then((response) => {
        if (!response.ok) throw new Error(`${wasmUrl}: HTTP ${response.status}`);
        // Compiled while it downloads where the engine can (served as application/wasm);
        // otherwise (another MIME type, no compileStreaming) from the whole bytes.
        const type = (response.headers.get('content-type') || '').split(';')[0].trim();
        if (typeof WebAssembly.compileStreaming === 'function' && type === 'application/wasm') {
          const copy = response.clone();
          return WebAssembly.compileStreaming(response).catch(() =>
            copy.arrayBuffer().then((bytes) => WebAssembly.compile(bytes)),
          );
        }
        return response.arrayBuffer().then((bytes) => WebAssembly.compile(bytes));
      });
      compiled.catch(() => {
        compiled = null; // try again on the next request
      });
    }
    return compiled;
  }

  function instantiate() {
    if (!pending) {
      pending = (async () => {
        if (typeof createAuthmediaGlue !== 'function') {
          throw new Error('authmedia-sw.js is the unbuilt source: run scripts/build-sw.sh');
        }
        const module = await compile();
        const glue = createAuthmediaGlue();
        await glue({ module_or_path: module });
        const instance = {
          worker: new glue.AuthMediaWorker(
            Object.assign({}, options, { decrypt, lineage: Object.assign({}, lineage) }),
          ),
        };
        // The calls waiting on this instance, rejected all at once if it traps. One entry per
        // call, removed as the call settles: racing every call against one long-lived promise
        // instead would add a reaction to it per request that stays for the worker's life (and,
        // in engines that do not drop a settled race's resolving functions, keeps every answer).
        instance.waiting = new Set();
        instance.kill = (error) => {
          instance.died = error;
          for (const reject of instance.waiting) reject(error);
          instance.waiting.clear();
        };
        current = instance;
        mark('authmedia-sw:wasm-ready');
        return instance;
      })();
      pending.catch(() => {
        pending = null;
      });
    }
    return pending;
  }

  /** The ready instance, or a rejection after READY_TIMEOUT_MS: never waits forever. */
  function ready() {
    if (current) return Promise.resolve(current);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('wasm did not load in time')), READY_TIMEOUT_MS);
    });
    return Promise.race([instantiate(), timeout]).finally(() => clearTimeout(timer));
  }

  /** Throws a trapped instance away (its memory may be inconsistent) and starts a fresh one. */
  function poison(instance, error) {
    if (!instance || instance.poisoned) return;
    instance.poisoned = true;
    instance.kill(error);
    if (current === instance) {
      lineage.replaced += 1;
      lineage.lastTrap = String(error);
      current = null;
      pending = null;
      instantiate().catch(() => {});
    }
  }

  function isTrap(error) {
    return error instanceof WebAssembly.RuntimeError;
  }

  // A trap inside an async wasm task surfaces as an uncaught error of the worker global. Which
  // module trapped is not known there: both are let go (the decryption module is fetched again by
  // the next attachment).
  function trapped(error) {
    decryptor = null;
    poison(current, error);
  }
  scope.addEventListener('error', (event) => {
    if (isTrap(event.error)) trapped(event.error);
  });
  scope.addEventListener('unhandledrejection', (event) => {
    if (isTrap(event.reason)) trapped(event.reason);
  });

  /** `promise`, or a rejection as soon as `instance` is killed (it trapped) before it settles. */
  function untilDead(instance, promise) {
    if (instance.died) return Promise.reject(instance.died);
    return new Promise((resolve, reject) => {
      instance.waiting.add(reject);
      const settle = (f) => (value) => {
        instance.waiting.delete(reject);
        f(value);
      };
      promise.then(settle(resolve), settle(reject));
    });
  }

  // ----- fetch ---------------------------------------------------------------------------------
  /**
   * `instance.worker[method](event)` raced against the instance's death: a trap (thrown at once
   * or killing the instance meanwhile) or any other failure becomes a 500 JSON answer.
   */
  function answer(instance, method, event) {
    let promise;
    try {
      promise = untilDead(instance, instance.worker[method](event));
    } catch (error) {
      promise = Promise.reject(error);
    }
    return promise.catch((error) => {
      if (isTrap(error)) poison(instance, error);
      return errorResponse(
        500,
        'M_UNKNOWN',
        'internal',
        `authmedia service worker: internal error: ${error}`,
      );
    });
  }

  /**
   * The answer to a fetch the worker took. With the wasm ready the call is made at once, in the
   * fetch event's own task: no promise hop before the wasm sees the request, and `route` and
   * `handleFetch` of one event are never separated by another event's.
   */
  function respond(event, method = 'handleFetch') {
    if (current) return answer(current, method, event);
    return ready().then(
      (instance) => answer(instance, method, event),
      (error) =>
        errorResponse(
          503,
          'M_UNKNOWN',
          'wasm_unavailable',
          `authmedia service worker: wasm unavailable: ${error}`,
        ),
    );
  }

  /** Returns true when the worker took the request (it called `event.respondWith`). */
  function handleFetch(event) {
    const request = event.request;
    if (request.method !== 'GET') return false;
    if (!isMediaRequest(request)) return false;
    if (request.url.startsWith(ENCRYPTED_PREFIX)) {
      event.respondWith(respond(event, 'handleEncrypted'));
      return true;
    }
    const instance = current;
    let route = ROUTE_UNKNOWN;
    if (instance) {
      try {
        route = instance.worker.route(event.clientId || '', request.url);
      } catch (error) {
        poison(instance, error);
        route = ROUTE_UNKNOWN;
      }
    }
    if (route === ROUTE_OTHER) return false;
    if (route !== ROUTE_MEDIA) {
      if (!looksLikeMedia(request.url)) return false;
      if (route === ROUTE_NO_SESSION) {
        try {
          instance.worker.notePassthrough();
        } catch (error) {
          poison(instance, error);
        }
        return false;
      }
    }
    event.respondWith(respond(event));
    return true;
  }

  // ----- messages ------------------------------------------------------------------------------
  async function answerMessage(event) {
    const port = event.ports && event.ports[0];
    let instance;
    try {
      instance = await ready();
    } catch (error) {
      if (port) port.postMessage({ ok: false, error: `wasm unavailable: ${error}` });
      return;
    }
    try {
      await untilDead(instance, instance.worker.handleMessage(event));
      if (event.data.type === 'authmedia:session') mark('authmedia-sw:session-stored');
    } catch (error) {
      if (isTrap(error)) poison(instance, error);
      if (port) port.postMessage({ ok: false, error: String(error) });
    }
  }

  /** Returns true when the message was an `authmedia:*` message (it is then answered). */
  function handleMessage(event) {
    const data = event.data;
    if (!data || typeof data.type !== 'string' || !data.type.startsWith('authmedia:')) return false;
    event.waitUntil(answerMessage(event));
    return true;
  }

  // ----- lifecycle -----------------------------------------------------------------------------
  scope.authmedia = Object.freeze({
    handleFetch,
    handleMessage,
    looksLikeMedia,
    isMediaRequest,
    /** Resolves once the wasm is instantiated (rejects if it cannot be). */
    ready: () => ready().then(() => undefined),
  });

  if (registerListeners) {
    scope.addEventListener('install', (event) => {
      // The install ends once the wasm is compiled (a worker that controls pages answers them at
      // once, not after a download). `skipWaiting` only sets a flag: asked at the start, its round
      // trip to the browser overlaps the wasm's download instead of following it, and the worker
      // activates as soon as the compile is done, while its wasm instantiates.
      event.waitUntil(Promise.all([scope.skipWaiting(), compile().catch(() => {})]));
    });
    scope.addEventListener('activate', (event) => {
      event.waitUntil(scope.clients.claim());
    });
    scope.addEventListener('fetch', handleFetch);
    scope.addEventListener('message', handleMessage);
  }

  instantiate().catch(() => {}); // start at once; failures are retried on the next request
})(self);
