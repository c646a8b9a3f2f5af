// matrix-authmedia: the page SDK's ESM loader. Hand-written; the logic lives in WebAssembly
// (crates/web, built by scripts/build.sh into ./dist/). See index.d.ts for the API.
import initWasm, { AuthMediaCore } from './dist/authmedia_web.js';

/**
 * Errors thrown by this package: an `Error` with a stable string `code`. Errors created inside
 * the WebAssembly module are plain `Error`s named `AuthMediaError` with a `code`; `instanceof`
 * recognises both.
 */
export class AuthMediaError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'AuthMediaError';
    this.code = code;
  }

  static [Symbol.hasInstance](value) {
    return value instanceof Error && value.name === 'AuthMediaError' && typeof value.code === 'string';
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
        ready = true;
      },
      (e) => {
        loading = null;
        throw new AuthMediaError('wasm_load_failed', `matrix-authmedia: could not load its WebAssembly module: ${e?.message ?? e}`, { cause: e });
      },
    );
  }
  return loading;
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

function checkMxc(mxc) {
  if (typeof mxc !== 'string') {
    throw new AuthMediaError('invalid_mxc', `matrix-authmedia: the mxc URI must be a string, got ${typeof mxc}`);
  }
}

/** One signed-in session on this page. Create it with `AuthMedia.init(options)`. */
export class AuthMedia {
  #core;

  /** @internal use `AuthMedia.init` */
  constructor(core) {
    assertReady('new AuthMedia()');
    if (!(core instanceof AuthMediaCore)) {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: use `await AuthMedia.init(options)` to create an AuthMedia');
    }
    this.#core = core;
  }

  /** Loads the wasm (idempotent), negotiates with the homeserver, registers the worker, picks a mode. */
  static async init(options) {
    await initAsync();
    return new AuthMedia(await AuthMediaCore.init(options));
  }

  /** 'worker' | 'fallback' */
  get mode() {
    return this.#core.mode;
  }

  /** 'v1' | 'unstable' | 'legacy' */
  get api() {
    return this.#core.api;
  }

  /** Why the fallback is in use, or null in worker mode. */
  get fallbackReason() {
    return this.#core.fallbackReason ?? null;
  }

  src(mxc, options) {
    checkMxc(mxc);
    return this.#core.src(mxc, options);
  }

  /** A URL showing an encrypted attachment (`EncryptedFile` object or JSON text), verified and decrypted. */
  srcEncrypted(file, options) {
    if (file === null || (typeof file !== 'object' && typeof file !== 'string')) {
      return Promise.reject(
        new AuthMediaError('invalid_argument', 'matrix-authmedia: srcEncrypted needs an EncryptedFile object'),
      );
    }
    return this.#core.srcEncrypted(file, options);
  }

  httpUrl(mxc, options) {
    checkMxc(mxc);
    return this.#core.httpUrl(mxc, options);
  }

  mount(root) {
    if (!root || root.nodeType !== 1) {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: mount(root) needs an Element');
    }
    return this.#core.mount(root);
  }

  /** Loads again mounted elements that failed for a reason that may pass; returns how many. */
  retryFailed() {
    return this.#core.retryFailed();
  }

  setAccessToken(token) {
    if (typeof token !== 'string') {
      throw new AuthMediaError('invalid_argument', 'matrix-authmedia: setAccessToken needs a string');
    }
    this.#core.setAccessToken(token);
  }

  logout() {
    return this.#core.logout();
  }

  setForceFallback(force) {
    this.#core.setForceFallback(Boolean(force));
  }

  stats() {
    return this.#core.stats();
  }

  refreshStats() {
    return this.#core.refreshStats();
  }

  download(mxc, filename) {
    checkMxc(mxc);
    return this.#core.download(mxc, filename ?? undefined);
  }

  addEventListener(type, listener) {
    this.#core.addEventListener(String(type), listener);
  }

  removeEventListener(type, listener) {
    this.#core.removeEventListener(String(type), listener);
  }
}

/**
 * An `AuthMedia` for a logged-in matrix-js-sdk `MatrixClient`: homeserver, token and user id
 * come from the client; token refreshes and logout follow it.
 */
export async function fromMatrixClient(client, options = {}) {
  if (!client || typeof client.getHomeserverUrl !== 'function' || typeof client.getAccessToken !== 'function') {
    throw new AuthMediaError('invalid_argument', 'matrix-authmedia: fromMatrixClient needs a matrix-js-sdk MatrixClient');
  }
  const token = client.getAccessToken();
  if (!token) {
    throw new AuthMediaError('invalid_argument', 'matrix-authmedia: the MatrixClient is not logged in (no access token)');
  }
  let lastToken = token;
  const media = await AuthMedia.init({
    homeserver: client.getHomeserverUrl(),
    accessToken: token,
    userId: client.getUserId() ?? '',
    onTokenRefresh: async () => {
      // The client may have refreshed already (its own 401 handling); else ask it to.
      const current = client.getAccessToken();
      if (current && current !== lastToken) return (lastToken = current);
      if (typeof options.onTokenRefresh === 'function') return (lastToken = await options.onTokenRefresh());
      const refreshToken = typeof client.getRefreshToken === 'function' ? client.getRefreshToken() : null;
      if (refreshToken && typeof client.refreshToken === 'function') {
        const res = await client.refreshToken(refreshToken);
        const next = res?.access_token ?? client.getAccessToken();
        if (next) {
          if (typeof client.setAccessToken === 'function') client.setAccessToken(next);
          return (lastToken = next);
        }
      }
      throw new AuthMediaError('unauthorized', 'matrix-authmedia: the access token was rejected and the client cannot refresh it');
    },
    ...withoutKeys(options, ['onTokenRefresh']),
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

function withoutKeys(obj, keys) {
  const out = {};
  for (const [k, v] of Object.entries(obj ?? {})) if (!keys.includes(k)) out[k] = v;
  return out;
}
