// matrix-authmedia: the page SDK's ESM loader. Hand-written; the logic lives in WebAssembly
// (crates/web, built by scripts/build.sh into ./dist/). See index.d.ts for the API.
import initWasm, { AuthMediaCore, setDecryptorModule, wasmMemory } from './dist/authmedia_web.js';

/**
 * Errors thrown by this package: an `Error` with a stable string `code`. Errors created inside
 * the WebAssembly module are plain `Error`s named `AuthMediaError` with a `code`; `instanceof`
 * recognises both.
 */
export class AuthMediaError extends Error {
  constructor(code, message, options) {
    if (typeof code !== 'string' || code === '') {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: an AuthMediaError needs a non-empty string code');
    }
    if (message !== undefined && typeof message !== 'string') {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: an AuthMediaError message must be a string');
    }
    super(message, options);
    this.name = 'AuthMediaError';
    this.code = code;
  }

  static [Symbol.hasInstance](value) {
    // Never throws, whatever `value` is (a Proxy whose traps throw is simply not one of ours).
    try {
      return value instanceof Error && value.name === 'AuthMediaError' && typeof value.code === 'string';
    } catch {
      return false;
    }
  }
}

const EVENT_TYPES = ['modechange', 'error', 'progress'];

function invalid(message) {
  return new AuthMediaError('invalid_argument', `matrix-authmedia: ${message}`);
}

/** Whether `value` is a DOM Element (of any realm; not a look-alike object, not a Proxy of one). */
function isElement(value) {
  if (value === null || typeof value !== 'object' || typeof Element === 'undefined') return false;
  try {
    // A WebIDL brand check: throws "Illegal invocation" on anything but a real Element.
    Element.prototype.hasAttribute.call(value, 'data-mxc');
    return true;
  } catch {
    return false;
  }
}

/** `undefined`, `null` or a plain (non-function) object; anything else is a wrong type. */
function checkOptions(what, value) {
  if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw invalid(`${what} must be an object`);
  }
}

/**
 * `options` with `workerUrl` set to where a build plugin put the worker, when the caller gave no
 * `workerUrl` (an explicit string or `null` always wins): the URL recorded by
 * `matrix-authmedia/webpack` in `globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__`, else the
 * `<meta name="matrix-authmedia-worker" content="…">` of the page (written by
 * `matrix-authmedia/vite`, or by hand), resolved against the document's base URL. Without either
 * the SDK's default (`/authmedia-sw.js`) applies. Anything but a non-empty string is ignored.
 */
function withDeclaredWorkerUrl(options) {
  let given;
  try {
    if (options === null || typeof options !== 'object' || options.workerUrl !== undefined) return options;
    given = declaredWorkerUrl();
  } catch {
    // A getter that throws is reported by the options check that follows.
    return options;
  }
  if (given === undefined) return options;
  // The caller's object stays the prototype: its other options (getters included) read through.
  return Object.create(options, { workerUrl: { value: given, enumerable: true } });
}

function declaredWorkerUrl() {
  const recorded = globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__;
  if (typeof recorded === 'string' && recorded !== '') return recorded;
  if (typeof document === 'undefined' || typeof document.querySelector !== 'function') return undefined;
  const meta = document.querySelector('meta[name="matrix-authmedia-worker"]');
  const content = meta?.getAttribute('content');
  if (typeof content !== 'string' || content.trim() === '') return undefined;
  try {
    return new URL(content.trim(), document.baseURI).href;
  } catch {
    return undefined;
  }
}

let loading = null;
let ready = false;

/**
 * Loads and instantiates the WebAssembly module once; later calls return the same promise.
 * `input` (optional): the wasm URL, `Response`, `BufferSource` or `WebAssembly.Module`;
 * by default `./dist/authmedia_web_bg.wasm` next to this file (bundlers copy it).
 */
export function initAsync(input) {
  if (!loading) {
    const arg = input === undefined ? undefined : { module_or_path: input };
    loading = initWasm(arg).then(
      () => {
        setDecryptorModule(loadDecryptor);
        ready = true;
      },
      (e) => {
        loading = null;
        throw new AuthMediaError('wasm_load_failed', `matrix-authmedia: could not load its WebAssembly module: ${describe(e)}`, { cause: e });
      },
    );
  }
  return loading;
}

let decryptorModule = null;
/** How many loads of the decryption module failed (each retry after one imports a URL of its own). */
let decryptorFailures = 0;

/**
 * The fallback's attachment decryption (`dist/authmedia_crypto.js` and its wasm: WebCrypto where
 * the page has `crypto.subtle`, the core's AES-256-CTR / SHA-256 in wasm where it does not),
 * resolving to its `Decryptor` class. Only a page in the fallback decrypting an attachment needs
 * it (in worker mode the worker serves attachments), so it is a separate module, imported on first
 * use (bundlers split it into its own chunk and copy its wasm, as they do the page's). A failed
 * load is retried by the next attachment.
 */
function loadDecryptor() {
  if (!decryptorModule) {
    const failures = decryptorFailures;
    decryptorModule = import('./dist/authmedia_crypto.js')
      .catch((e) => {
        if (failures === 0) throw e;
        // Firefox remembers a module script that failed to load: `import()` of the same URL then
        // fails again without a request, until the page reloads. A retry imports the same file
        // under a URL of its own: a fragment is part of the module's key but not of the request.
        // Where a bundler rewrote the import above, this path may not exist: its error is then
        // the first one's.
        const retry = `./dist/authmedia_crypto.js#retry-${failures}`;
        return import(/* @vite-ignore */ /* webpackIgnore: true */ retry).catch(() => {
          throw e;
        });
      })
      .then(async (m) => {
        await m.default();
        return m.Decryptor;
      })
      .catch((e) => {
        decryptorModule = null;
        decryptorFailures++;
        throw e;
      });
  }
  return decryptorModule;
}

/** Whether `initAsync()` has completed. */
export function isInitialized() {
  return ready;
}

function assertReady(what) {
  if (!ready) {
    throw new AuthMediaError(
      'not_initialized',
      `matrix-authmedia: ${what} was used before the WebAssembly module was loaded; await initAsync() or AuthMedia.init() first`,
    );
  }
}

/**
 * A media URL given to `src()` as the browser would load it (resolved against the document,
 * normalised), so the core classifies exactly that; anything not URL-like is returned as is.
 */
function absoluteIfUrl(value) {
  if (!/^(https?:\/\/|\/)/i.test(value)) return value;
  try {
    return new URL(value, globalThis.document?.baseURI).href;
  } catch {
    return value;
  }
}

function checkMxc(mxc) {
  if (typeof mxc !== 'string') {
    throw new AuthMediaError('invalid_mxc', `matrix-authmedia: the mxc URI must be a string, got ${typeof mxc}`);
  }
}


/** At most this many `httpUrl` results are remembered per instance (then the memo starts over). */
const HTTP_URL_MEMO_MAX = 4096;

const isNullish = (v) => v === undefined || v === null;

/** The memo key of a download without a file name (thumbnail keys are numbers ≥ 0, names strings). */
const DOWNLOAD_KEY = -1;
/** Where an mxc's memo keeps the wasm's number for that mxc (not a URL). */
const MXC_NUMBER_KEY = -2;
/** Where an mxc's memo keeps the stem (the URL through the media id) of its thumbnails, downloads. */
const THUMBNAIL_STEM_KEY = -3;
const DOWNLOAD_STEM_KEY = -4;
/** `thumbnailUrl`/`downloadUrl`'s `shared` bits: the loader holds the last URL, this stem. */
const HOLDS_LAST = 1;
const HOLDS_STEM = 2;
/** `thumbnailUrl`/`downloadUrl`'s answer for a number that names no mxc (any more). */
const STALE_MXC = -2;

/**
 * The memo key of a thumbnail request: one number for whole dimensions below 2^16 (what pages ask
 * for), unique per (width, height, method 0–2, animated 0–2); `undefined` for others, which are
 * built every time (still correct, just not remembered).
 */
function thumbnailKey(width, height, method, animated) {
  if (!(width >= 0 && width < 65536 && height >= 0 && height < 65536)) return undefined;
  if (!Number.isInteger(width) || !Number.isInteger(height)) return undefined;
  return ((width * 65536 + height) * 3 + method) * 3 + animated;
}

/** Views of the wasm memory (replaced when it grows: the old ones are then empty). */
let wasmBytes = null;
let wasmWords = null;
let wasmFloats = null;
let wasmMemoryObject = null;
function wasmViews() {
  if (wasmBytes === null || wasmBytes.byteLength === 0) {
    wasmMemoryObject ??= wasmMemory();
    wasmBytes = new Uint8Array(wasmMemoryObject.buffer);
    wasmWords = new Uint32Array(wasmMemoryObject.buffer);
    wasmFloats = new Float64Array(wasmMemoryObject.buffer);
  }
}
const urlDecoder = new TextDecoder();
/** Longest new part of a URL turned into a string by `String.fromCharCode` (else the decoder). */
const FROM_CHAR_CODES_MAX = 256;

/** One signed-in session on this page. Create it with `AuthMedia.init(options)`. */
export class AuthMedia {
  #core;
  /**
   * `httpUrl` results of this instance, valid while `urlEpoch` is `#urlEpoch`: mxc URI → (request
   * key → URL). The mxc string is the outer key, so a repeated call hashes no new string (V8
   * keeps a string's hash with it); the request's key is a number or the file name.
   */
  #urls = new Map();
  #urlCount = 0;
  #urlEpoch = 0;
  /** The URL the wasm's `thumbnailUrl`/`downloadUrl` built last (its next URL may share bytes with it). */
  #lastUrl = null;
  /** Where this instance's `urlSlot` is, as an index of 32-bit words of the wasm memory. */
  #urlSlot = -1;
  /** The fallback's cause as found at init (with the probe of the worker script). */
  #detail = null;

  /** @internal use `AuthMedia.init` */
  constructor(core) {
    assertReady('new AuthMedia()');
    let isCore = false;
    try {
      isCore = core instanceof AuthMediaCore;
    } catch {
      // a Proxy whose traps throw
    }
    if (!isCore) {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: use `await AuthMedia.init(options)` to create an AuthMedia');
    }
    this.#core = core;
  }

  /** The wasm object behind `self`, or a clear error for a method called on something else. */
  static #of(self) {
    if (self === null || typeof self !== 'object' || !(#core in self)) {
      throw invalid('an AuthMedia method was called on something that is not an AuthMedia (a detached method?)');
    }
    return self.#core;
  }

  /** Loads the wasm (idempotent), negotiates with the homeserver, registers the worker, picks a mode. */
  static async init(options) {
    await initAsync();
    const warn = fallbackWarningOption(options);
    let core;
    try {
      core = await AuthMediaCore.init(withDeclaredWorkerUrl(options));
    } catch (e) {
      throw await explainInitError(e, options);
    }
    const media = new AuthMedia(core);
    const facts = core.fallbackDetail;
    if (facts && WARN_REASONS.has(facts.reason)) {
      media.#detail = await describeFallback(facts);
      if (warn) {
        console.warn(
          `matrix-authmedia: using the blob fallback (${facts.reason}): ${media.#detail.message}. ` +
            'Media are fetched whole into blob: URLs (no streaming; whole videos in memory). ' +
            'Set fallbackWarning: false to silence this.',
        );
      }
    }
    return media;
  }

  /** 'worker' | 'fallback' */
  get mode() {
    return AuthMedia.#of(this).mode;
  }

  /** 'v1' | 'unstable' | 'legacy' */
  get api() {
    return AuthMedia.#of(this).api;
  }

  /** Why the fallback is in use, or null in worker mode. */
  get fallbackReason() {
    return AuthMedia.#of(this).fallbackReason ?? null;
  }

  /** `fallbackReason`'s cause and what to do about it, or null in worker mode. */
  get fallbackDetail() {
    const facts = AuthMedia.#of(this).fallbackDetail;
    if (!facts) return null;
    if (this.#detail && this.#detail.reason === facts.reason) return { ...this.#detail };
    return wordFallback(facts);
  }

  src(mxc, options) {
    const core = AuthMedia.#of(this);
    checkMxc(mxc);
    checkOptions('src options', options);
    return core.src(absoluteIfUrl(mxc), options);
  }

  /** A URL showing an encrypted attachment (`EncryptedFile` object or JSON text), verified and decrypted. */
  srcEncrypted(file, options) {
    const core = AuthMedia.#of(this);
    if (file === null || (typeof file !== 'object' && typeof file !== 'string')) {
      return Promise.reject(
        new AuthMediaError('invalid_argument', 'matrix-authmedia: srcEncrypted needs an EncryptedFile object'),
      );
    }
    try {
      checkOptions('srcEncrypted options', options);
    } catch (e) {
      return Promise.reject(e);
    }
    return core.srcEncrypted(file, options);
  }

  httpUrl(mxc, options) {
    const core = AuthMedia.#of(this);
    checkMxc(mxc);
    checkOptions('httpUrl options', options);
    // The options of the plain shapes are read once, here, into numbers (the wasm gets those,
    // not the caller's object again: a getter could answer differently the second time). Any
    // other shape, or a getter that throws, goes to the wasm's `httpUrl`, which reads the object
    // and refuses what it must, uncached.
    let plain = true;
    let thumbnail = false;
    let width = 0;
    let height = 0;
    let method = 0;
    let animated = 0;
    let filename;
    let key = DOWNLOAD_KEY;
    try {
      if (!isNullish(options)) {
        const t = options.thumbnail;
        if (isNullish(t)) {
          const name = options.filename;
          if (typeof name === 'string') key = filename = name;
          else plain = isNullish(name);
        } else if (typeof t === 'object') {
          thumbnail = true;
          ({ width, height } = t);
          const m = t.method;
          const a = t.animated;
          // Other method strings: the wasm's `httpUrl` refuses them with its own words.
          method = isNullish(m) ? 0 : m === 'crop' ? 1 : m === 'scale' ? 2 : -1;
          animated = isNullish(a) ? 0 : a === false ? 1 : a === true ? 2 : -1;
          plain = typeof width === 'number' && typeof height === 'number' && method >= 0 && animated >= 0;
          key = thumbnailKey(width, height, method, animated);
        } else {
          plain = false;
        }
      }
    } catch {
      plain = false;
    }
    if (!plain) return core.httpUrl(mxc, options);
    // The URL depends on the arguments, the homeserver (fixed per instance) and what `urlEpoch`
    // stands for (the negotiated API); a number, so checking it costs no string crossing.
    const epoch = core.urlEpoch;
    if (epoch !== this.#urlEpoch) {
      this.#urls.clear();
      this.#urlCount = 0;
      this.#urlEpoch = epoch;
    }
    let ofMxc = this.#urls.get(mxc);
    let number = -1;
    const stemKey = thumbnail ? THUMBNAIL_STEM_KEY : DOWNLOAD_STEM_KEY;
    let stem;
    if (ofMxc !== undefined) {
      if (key !== undefined) {
        const url = ofMxc.get(key);
        if (url !== undefined) return url;
      }
      number = ofMxc.get(MXC_NUMBER_KEY);
      stem = ofMxc.get(stemKey);
    }
    // The wasm checks and builds; it throws for whatever it refuses: only successes are kept.
    const url = this.#build(core, mxc, number, stem, thumbnail, width, height, method, animated, filename);
    // The wasm's number for this mxc when it parsed the string now (else -1: the one passed).
    const given = wasmFloats[(this.#urlSlot >>> 1) + 3];
    let fresh = given >= 0;
    if (key !== undefined) {
      if (this.#urlCount >= HTTP_URL_MEMO_MAX) {
        this.#urls.clear();
        this.#urlCount = 0;
        ofMxc = undefined;
      }
      if (ofMxc === undefined) {
        this.#urls.set(mxc, (ofMxc = new Map()));
        fresh = true;
      }
      ofMxc.set(key, url);
      this.#urlCount++;
    }
    if (ofMxc !== undefined) {
      if (fresh) {
        const now = given >= 0 ? given : number;
        if (now >= 0) ofMxc.set(MXC_NUMBER_KEY, now);
      }
      // Every later URL of this mxc and endpoint (in this epoch) starts with it.
      const stemLen = wasmWords[this.#urlSlot + 3];
      if (stemLen > 0 && ofMxc.get(stemKey) === undefined) ofMxc.set(stemKey, url.slice(0, stemLen));
    }
    return url;
  }

  /**
   * The wasm's `thumbnailUrl`/`downloadUrl`, and the URL it built read out of the wasm memory:
   * the bytes it shares with the URL built before come from that string (`#lastUrl`), only the
   * rest is turned into a string — most of a call's cost. Throws what the wasm refused.
   */
  #build(core, mxc, number, stem, thumbnail, width, height, method, animated, filename) {
    const last = this.#lastUrl;
    // Forgotten first: if anything below throws, the next call asks for no shared bytes rather
    // than share with a URL this side may not hold.
    this.#lastUrl = null;
    const shared = (last !== null ? HOLDS_LAST : 0) | (stem !== undefined ? HOLDS_STEM : 0);
    // An mxc the wasm parsed before goes as its number (no string crossing, no parsing); a
    // number it no longer knows (its table started over) is answered `STALE_MXC`: then the string.
    let len = STALE_MXC;
    if (number >= 0) {
      len = thumbnail
        ? core.thumbnailUrl(undefined, number, width, height, method, animated, shared)
        : core.downloadUrl(undefined, number, filename, shared);
    }
    if (len === STALE_MXC) {
      len = thumbnail
        ? core.thumbnailUrl(mxc, -1, width, height, method, animated, shared)
        : core.downloadUrl(mxc, -1, filename, shared);
    }
    if (len < 0) throw core.takeUrlError();
    wasmViews();
    if (this.#urlSlot < 0) this.#urlSlot = core.urlSlot >>> 2;
    const start = wasmWords[this.#urlSlot];
    const kept = wasmWords[this.#urlSlot + 1];
    const n = len - kept;
    const bytes = wasmBytes.subarray(start, start + n);
    // ASCII (every URL the core builds, in practice): one UTF-16 unit per byte.
    const part =
      wasmWords[this.#urlSlot + 2] === 1 && n <= FROM_CHAR_CODES_MAX
        ? String.fromCharCode.apply(null, bytes)
        : urlDecoder.decode(bytes);
    const held = wasmWords[this.#urlSlot + 4] === 1 ? stem : last;
    const url = kept === 0 ? part : held.slice(0, kept) + part;
    this.#lastUrl = url;
    return url;
  }

  mount(root, options) {
    const core = AuthMedia.#of(this);
    // The wasm side trusts the type: a look-alike object would fail inside it.
    if (!isElement(root)) {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: mount(root) needs an Element');
    }
    checkOptions('mount options', options);
    let homeserverUrls;
    try {
      homeserverUrls = options?.homeserverUrls;
    } catch (e) {
      throw new AuthMediaError('invalid_argument', `matrix-authmedia: could not read mount options.homeserverUrls: ${describe(e)}`, { cause: e });
    }
    if (homeserverUrls !== undefined && typeof homeserverUrls !== 'boolean') {
      throw invalid('mount options.homeserverUrls must be true or false');
    }
    const unmount = core.mount(root);
    if (!homeserverUrls) return unmount;
    const watcher = core.watchHomeserverUrls(root);
    return () => {
      watcher.disconnect();
      unmount();
    };
  }

  /** Loads again mounted elements that failed for a reason that may pass; returns how many. */
  retryFailed() {
    return AuthMedia.#of(this).retryFailed();
  }

  setAccessToken(token) {
    const core = AuthMedia.#of(this);
    if (typeof token !== 'string') {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: setAccessToken needs a string');
    }
    core.setAccessToken(token);
  }

  logout() {
    return AuthMedia.#of(this).logout();
  }

  /**
   * Detaches this instance: its mounted elements are unmounted, its listeners removed, its object
   * URLs revoked; the worker keeps the tab's session for the other instances. Idempotent.
   */
  dispose() {
    AuthMedia.#of(this).dispose();
  }

  setForceFallback(force) {
    const core = AuthMedia.#of(this);
    if (typeof force !== 'boolean') throw invalid('setForceFallback needs true or false');
    core.setForceFallback(force);
  }

  stats() {
    return AuthMedia.#of(this).stats();
  }

  refreshStats() {
    return AuthMedia.#of(this).refreshStats();
  }

  download(mxc, filename) {
    const core = AuthMedia.#of(this);
    checkMxc(mxc);
    // Checked here: the wasm glue reads any value as a string (a number corrupts its memory).
    if (filename !== undefined && filename !== null && typeof filename !== 'string') {
      throw invalid('download(mxc, filename): the file name must be a string');
    }
    return core.download(mxc, filename ?? undefined);
  }

  addEventListener(type, listener) {
    const core = AuthMedia.#of(this);
    checkListener(type, listener);
    core.addEventListener(type, listener);
  }

  /**
   * Is this page ready for authenticated media, from where it matters — the user's browser on the
   * app's origin? A typed report (`DiagnoseReport` in index.d.ts): whether a worker controls the
   * page and, if not, why (the registration's facts); whether an authenticated request from this
   * origin gets through (a real CORS preflight naming `Authorization`); the negotiated API; with
   * `{ mxc }`, whether a 32×32 thumbnail of it loads in the current mode; the page's and the
   * worker's versions; and one verdict per question (`ok` / `warn` / `fail` / `skip`).
   * Sends at most two requests (`/versions`, the thumbnail); never rejects for what it finds.
   */
  async diagnose(options) {
    const core = AuthMedia.#of(this);
    checkOptions('diagnose options', options);
    const mxc = options?.mxc;
    if (mxc !== undefined) checkMxc(mxc);
    const timeoutMs = options?.timeoutMs ?? 15000;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw invalid('diagnose: timeoutMs must be a positive number');
    const container = typeof navigator !== 'undefined' ? navigator.serviceWorker : undefined;
    const controller = container?.controller ?? null;
    let registration = null;
    try {
      const reg = container ? await container.getRegistration() : undefined;
      if (reg) {
        registration = {
          scope: reg.scope,
          active: reg.active?.scriptURL ?? null,
          waiting: reg.waiting?.scriptURL ?? null,
          installing: reg.installing?.scriptURL ?? null,
        };
      }
    } catch {
      // getRegistration rejects in some hardened contexts: reported as no registration.
    }
    const stats = await core.refreshStats();
    const authenticated = await core.checkAuthenticated();
    let thumbnail = null;
    if (mxc !== undefined) thumbnail = await loadThumbnail(this, mxc, timeoutMs);
    const report = {
      packageVersion: PACKAGE_VERSION,
      mode: core.mode,
      api: core.api,
      secureContext: globalThis.isSecureContext === true,
      serviceWorkerApi: Boolean(container),
      controlled: controller !== null,
      controllerScript: controller?.scriptURL ?? null,
      registration,
      fallbackReason: this.fallbackReason,
      fallbackDetail: this.fallbackDetail,
      worker: stats.worker ?? null,
      authenticated: {
        ok: authenticated.ok === true,
        api: authenticated.api ?? null,
        code: authenticated.code ?? null,
        message: authenticated.error ? String(authenticated.error.message ?? authenticated.error) : null,
      },
      thumbnail,
      checks: [],
    };
    report.checks = diagnoseChecks(report);
    return report;
  }

  removeEventListener(type, listener) {
    const core = AuthMedia.#of(this);
    checkListener(type, listener);
    core.removeEventListener(type, listener);
  }
}

/** The package version (kept equal to package.json's by tests/e2e/diagnose.test.mjs). */
export const PACKAGE_VERSION = '0.1.0';

/** `diagnose({mxc})`'s thumbnail: shown in the current mode within `timeoutMs`? */
async function loadThumbnail(media, mxc, timeoutMs) {
  const mode = media.mode;
  let url;
  try {
    url = await media.src(mxc, { thumbnail: { width: 32, height: 32, method: 'crop' } });
  } catch (e) {
    return { ok: false, mode, width: 0, height: 0, code: e?.code ?? 'internal', message: String(e?.message ?? e) };
  }
  const img = new Image();
  const outcome = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    img.onload = () => {
      clearTimeout(timer);
      resolve('load');
    };
    img.onerror = () => {
      clearTimeout(timer);
      resolve('error');
    };
    img.src = url;
  });
  const ok = outcome === 'load' && img.naturalWidth > 0;
  return {
    ok,
    mode,
    width: img.naturalWidth,
    height: img.naturalHeight,
    code: ok ? null : outcome === 'timeout' ? 'timeout' : 'load_failed',
    message: ok ? null : `the thumbnail ${outcome === 'timeout' ? `did not load within ${timeoutMs} ms` : 'failed to load'}`,
  };
}

/** The verdicts of a diagnose report: one row per question, each with what to do. */
function diagnoseChecks(r) {
  const rows = [];
  const add = (name, verdict, detail, advice) => rows.push({ name, verdict, detail, advice: advice ?? null });
  if (r.mode === 'worker') add('worker', 'ok', `a service worker controls this page (${r.controllerScript})`);
  else if (r.fallbackReason === 'forced' || r.fallbackReason === 'no_worker_url') add('worker', 'ok', `the fallback, as configured (${r.fallbackReason})`);
  else if (r.fallbackReason === 'uncontrolled') add('worker', 'warn', 'no worker controls this page yet (first load or a hard reload)', 'worker mode follows once the worker claims the page; nothing to fix unless it never does');
  else add('worker', 'warn', `the blob fallback is in use (${r.fallbackReason}): ${r.fallbackDetail?.message ?? ''}`.trim(), 'media are fetched whole into blob: URLs; see fallbackDetail and the README troubleshooting table');
  if (r.authenticated.ok) add('authenticated', 'ok', `an authenticated request from ${globalThis.location?.origin ?? 'this origin'} gets through (CORS preflight naming Authorization)`);
  else add('authenticated', 'fail', `an authenticated request failed: ${r.authenticated.code} ${r.authenticated.message ?? ''}`.trim(), 'the homeserver (or its proxy) must answer CORS preflights for Authorization from this origin; run `authmedia probe <homeserver> --origin <this origin>`');
  if (r.api === 'legacy') add('api', 'warn', 'the homeserver offers no authenticated media (legacy endpoints)', 'media go out without the token; upgrade the homeserver (spec v1.11)');
  else add('api', 'ok', `authenticated media via the ${r.api} endpoints`);
  if (r.thumbnail === null) add('thumbnail', 'skip', 'no mxc given', 'pass { mxc } to try a thumbnail in the current mode');
  else if (r.thumbnail.ok) add('thumbnail', 'ok', `a ${r.thumbnail.width}×${r.thumbnail.height} thumbnail loaded in ${r.thumbnail.mode} mode`);
  else add('thumbnail', 'fail', `the thumbnail did not load in ${r.thumbnail.mode} mode: ${r.thumbnail.code}`, r.thumbnail.message);
  const workerVersion = r.worker?.version ?? null;
  if (r.mode !== 'worker') add('versions', 'skip', `page ${r.packageVersion}; no worker in use`);
  else if (workerVersion === null) add('versions', 'warn', `page ${r.packageVersion}; the worker does not report a version (a copy from an older release?)`, 'copy the worker files of this package version (or use the bundler plugin)');
  else if (workerVersion !== r.packageVersion) add('versions', 'warn', `page ${r.packageVersion}, worker ${workerVersion}`, 'serve the worker files of the same package version');
  else add('versions', 'ok', `page and worker ${r.packageVersion}`);
  return rows;
}

/**
 * An `AuthMedia` for a logged-in matrix-js-sdk `MatrixClient`: homeserver, token and user id
 * come from the client; token refreshes and logout follow it.
 *
 * The adapter never refreshes a token itself: refreshing is the client's job (matrix-js-sdk
 * rotates the refresh token too, keeps both in its own state and hands them to the app's
 * `onTokenRefresh` callback to store). When the homeserver refuses the token the SDK holds, the
 * adapter takes the client's current token if it changed meanwhile; else it calls
 * `options.onTokenRefresh` when given; else it makes one authenticated request through the client
 * (`whoami`), which runs the client's own refresh flow, and follows the token that produced.
 */
export async function fromMatrixClient(client, options = {}) {
  // Read once, up front: a client or options object whose getters or methods throw gives a
  // coded error (with the original as `cause`), never a half-made AuthMedia.
  let homeserver, token, userId, rest, appRefresh;
  try {
    if (!client || typeof client.getHomeserverUrl !== 'function' || typeof client.getAccessToken !== 'function') {
      throw invalid('fromMatrixClient needs a matrix-js-sdk MatrixClient');
    }
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalid('fromMatrixClient options must be an object');
    }
    homeserver = client.getHomeserverUrl();
    token = client.getAccessToken();
    userId = typeof client.getUserId === 'function' ? client.getUserId() : null;
    rest = withoutKeys(options, ['onTokenRefresh']);
    appRefresh = options.onTokenRefresh;
  } catch (e) {
    if (e instanceof AuthMediaError) throw e;
    throw new AuthMediaError('invalid_argument', `matrix-authmedia: could not read the MatrixClient or the options: ${describe(e)}`, { cause: e });
  }
  if (!token) {
    throw new AuthMediaError('invalid_argument', 'matrix-authmedia: the MatrixClient is not logged in (no access token)');
  }
  if (appRefresh !== undefined && appRefresh !== null && typeof appRefresh !== 'function') {
    throw invalid('fromMatrixClient options.onTokenRefresh must be a function');
  }
  // The token the SDK holds: a refused token is only worth replacing by a different one.
  let lastToken = token;
  const clientToken = () => {
    try {
      return client.getAccessToken() || null;
    } catch {
      return null;
    }
  };
  const media = await AuthMedia.init({
    homeserver,
    accessToken: token,
    userId: userId ?? '',
    onTokenRefresh: async () => {
      // The client refreshed already (its own flow, or the app called setAccessToken).
      const current = clientToken();
      if (current && current !== lastToken) return (lastToken = current);
      if (typeof appRefresh === 'function') return (lastToken = await appRefresh());
      // Let the client find out: its request with the refused token makes it refresh (and store
      // the new pair, and tell the app), or — when it cannot — end its session (logged out).
      let cause;
      if (typeof client.whoami === 'function') {
        try {
          await client.whoami();
        } catch (e) {
          cause = e;
        }
        const next = clientToken();
        if (next && next !== lastToken) return (lastToken = next);
      }
      throw new AuthMediaError(
        'unauthorized',
        `matrix-authmedia: the homeserver refused the access token and the MatrixClient did not refresh it${cause ? ` (${describe(cause)})` : ''}`,
        { cause },
      );
    },
    ...rest,
  });
  const onLoggedOut = () => {
    media.logout();
  };
  // matrix-js-sdk emits "Session.logged_out" (HttpApiEvent.SessionLoggedOut) on a hard logout.
  if (typeof client.on === 'function') client.on('Session.logged_out', onLoggedOut);
  // Follow token changes made on the client (setAccessToken, refreshes): wrap its setter.
  if (typeof client.setAccessToken === 'function') {
    const original = client.setAccessToken.bind(client);
    client.setAccessToken = (t) => {
      original(t);
      if (t && t !== lastToken) {
        lastToken = t;
        try {
          media.setAccessToken(t);
        } catch {
          // logged out: nothing to follow
        }
      }
    };
  }
  // client.logout() → our logout too (after the server call).
  if (typeof client.logout === 'function') {
    const originalLogout = client.logout.bind(client);
    client.logout = async (...args) => {
      try {
        return await originalLogout(...args);
      } finally {
        await media.logout();
      }
    };
  }
  return media;
}

// ----- why init failed, why the fallback is used: the wording (the wasm gives the facts) ------

/** Fallback reasons that are deployment problems worth a console warning. */
const WARN_REASONS = new Set([
  'insecure_context',
  'no_service_worker',
  'registration_failed',
  'out_of_scope',
  'worker_not_ready',
  'worker_silent',
  'worker_refused_session',
  'worker_outdated',
]);

function fallbackWarningOption(options) {
  let v;
  try {
    v = options?.fallbackWarning;
  } catch {
    return true; // the wasm reports the unreadable options object
  }
  if (v === undefined || v === null) return true;
  if (typeof v !== 'boolean') throw invalid('options.fallbackWarning must be true or false');
  return v;
}

const COPY_HINT =
  'copy the worker files (node_modules/matrix-authmedia/sw/*: authmedia-sw.js and its two wasm) to where workerUrl points ' +
  '(default: the site root), or set workerUrl to where they are';

const JS_TYPES = ['text/javascript', 'application/javascript', 'application/x-javascript', 'text/ecmascript', 'application/ecmascript'];

/** The facts plus the probe of the worker script (its status and Content-Type), worded. */
async function describeFallback(facts) {
  const detail = { ...facts };
  if (facts.reason === 'registration_failed' && typeof facts.url === 'string') {
    try {
      // Same origin, no cookies, no cache: what the browser was served when it refused.
      const res = await fetch(facts.url, { mode: 'same-origin', credentials: 'omit', cache: 'no-store', signal: AbortSignal.timeout(3000) });
      if (!res.ok) detail.status = res.status;
      else {
        const type = res.headers.get('content-type') ?? '';
        if (!JS_TYPES.includes(type.split(';')[0].trim().toLowerCase())) detail.contentType = type;
      }
      res.body?.cancel().catch(() => {});
    } catch (e) {
      detail.probeError = describe(e);
    }
  }
  return wordFallback(detail);
}

/** `{...facts, message}`: what happened and what to do. */
function wordFallback(d) {
  const url = d.url ?? '(none)';
  const said = d.error ? ` (the browser said: ${d.error})` : '';
  let message;
  switch (d.reason) {
    case 'registration_failed':
      if (d.status !== undefined) message = `the service worker script ${url} answered HTTP ${d.status}: ${COPY_HINT}${said}`;
      else if (d.contentType !== undefined)
        message =
          `the service worker script ${url} is served as ${d.contentType || 'no Content-Type'}, and browsers run worker ` +
          'scripts only with a JavaScript MIME type (text/javascript). A server that answers unknown paths with ' +
          `index.html (an SPA fallback) does this when the file is missing: ${COPY_HINT}; else serve .js files as ` +
          `text/javascript${said}`;
      else message = `registering the service worker ${url} failed${said}`;
      break;
    case 'out_of_scope':
      message =
        `the service worker ${url} was registered for the scope ${d.scope}, which does not cover this page ` +
        `(${globalThis.location?.href}): a worker controls only pages under the directory of its script. Serve ` +
        'authmedia-sw.js from the site root or a directory above this page, and set workerUrl to it';
      break;
    case 'insecure_context':
      message = `this page (${globalThis.location?.origin}) is not a secure context: browsers give service workers only to https pages and http://localhost`;
      break;
    case 'no_service_worker':
      message = 'navigator.serviceWorker is missing: service workers are disabled here (a browser policy or preference, a hardened browser) or unsupported';
      break;
    case 'worker_not_ready':
      message = `the service worker ${url} was registered but did not become active within workerReadyTimeoutMs (a slow first install, or a browser that blocks service workers); it takes over once it activates`;
      break;
    case 'worker_silent':
      message = `the service worker ${url} did not answer the session message: workerUrl may name a worker without authmedia, or a combined worker does not pass messages to self.authmedia.handleMessage`;
      break;
    case 'worker_outdated':
      message =
        `the service worker ${url} is from another release of matrix-authmedia (worker: ${d.workerVersion ? `version ${d.workerVersion}, protocol ${d.workerProtocol}` : 'a version from before the protocol handshake'}; ` +
        `this page: version ${d.pageVersion}, protocol ${d.pageProtocol}). The worker files are copied into the site, so an update ` +
        `of the package leaves the old copy: ${COPY_HINT}, after every update of the package`;
      break;
    case 'worker_refused_session':
      message = `the service worker ${url} refused this page's session${d.error ? ` (${d.error})` : ''}`;
      break;
    case 'no_worker_url':
      message = 'workerUrl is null: no service worker is registered';
      break;
    case 'forced':
      message = "the fallback is forced (fallback: 'force' or setForceFallback(true))";
      break;
    case 'session_ended':
      message =
        "another AuthMedia of this tab logged out, which ended the tab's session in the service worker; this one serves " +
        'from the fallback with its own token until setAccessToken() hands the worker its session again';
      break;
    case 'uncontrolled':
      message = 'no service worker controls this page yet (first load, or a hard reload); worker mode follows once the worker claims it';
      break;
    default:
      message = `the fallback is in use (${d.reason})`;
  }
  return { ...d, message };
}

/** `init` failed: name the homeserver URL tried, or the worker problem (`fallback: 'never'`). */
async function explainInitError(e, options) {
  try {
    if (!(e instanceof AuthMediaError)) return e;
    if (e.code === 'no_worker' && e.detail && typeof e.detail === 'object') {
      const detail = await describeFallback(e.detail);
      e.detail = detail;
      e.message = `${e.message}: ${detail.message}`;
      return e;
    }
    // Only /versions, init's first request, fails with these codes.
    const base = String(options.homeserver).replace(/\/+$/, '');
    const url = `${base}/_matrix/client/versions`;
    const said = String(e.message).replace(/^matrix-authmedia: /, '');
    const HINT = "give the homeserver's client-server base URL (the m.homeserver base_url of its .well-known/matrix/client)";
    if (e.code === 'network' || e.code === 'timeout') {
      e.reason = 'unreachable';
      e.message =
        `matrix-authmedia: could not reach the homeserver at ${base} (GET ${url}: ${said}); check the homeserver URL, ` +
        'that the server is running, and that it allows requests from this origin (CORS)';
    } else if (e.code === 'server_error' && e.status === undefined) {
      e.reason = 'not_a_homeserver';
      e.message = `matrix-authmedia: is ${base} a Matrix homeserver? GET ${url} did not answer a Matrix versions document (${said}); ${HINT}`;
    } else if ((e.code === 'not_found' || e.code === 'unsupported') && typeof e.status === 'number') {
      e.reason = 'not_a_homeserver';
      e.message = `matrix-authmedia: is ${base} a Matrix homeserver? GET ${url} answered HTTP ${e.status}; ${HINT}`;
    }
  } catch {
    // a frozen error or unreadable options: the original error stands
  }
  return e;
}

function checkListener(type, listener) {
  if (!EVENT_TYPES.includes(type)) throw invalid(`the event type must be one of ${EVENT_TYPES.join(', ')}`);
  if (typeof listener !== 'function') throw invalid('the event listener must be a function');
}

function describe(e) {
  try {
    return String(e?.message ?? e);
  } catch {
    return '(unprintable error)';
  }
}

function withoutKeys(obj, keys) {
  const out = {};
  for (const [k, v] of Object.entries(obj ?? {})) if (!keys.includes(k)) out[k] = v;
  return out;
}
