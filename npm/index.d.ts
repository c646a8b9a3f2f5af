// Types of the `matrix-authmedia` package (hand-written; checked by tests/types with tsc --noEmit).

/** Stable error codes (`AuthMediaError.code`). */
export type AuthMediaErrorCode =
  | 'invalid_mxc'
  | 'invalid_argument'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'too_large'
  | 'over_budget'
  | 'rate_limited'
  | 'not_yet_uploaded'
  | 'unsupported'
  | 'server_error'
  | 'network'
  | 'timeout'
  | 'logged_out'
  | 'no_worker'
  | 'not_initialized'
  | 'wasm_load_failed'
  | 'load_failed'
  | 'hash_mismatch';

/** Every error this package throws or reports: an `Error` with a stable `code`. */
export class AuthMediaError extends Error {
  constructor(code: AuthMediaErrorCode | (string & {}), message: string, options?: { cause?: unknown });
  readonly name: 'AuthMediaError';
  /** Stable machine-readable code. */
  readonly code: AuthMediaErrorCode | (string & {});
  /** Finer code from the layer below (e.g. `exceeds_budget`, `invalid_media_id`, `unknown_token`). */
  readonly reason?: string;
  /** HTTP status of a server error. */
  readonly status?: number;
  /** Matrix `errcode` of a server error. */
  readonly errcode?: string;
}

export type Mode = 'worker' | 'fallback';
export type MediaApi = 'v1' | 'unstable' | 'legacy';

export interface AuthMediaOptions {
  /** Homeserver base URL (may carry a path prefix). */
  homeserver: string;
  /**
   * Sent only as `Authorization: Bearer` to the homeserver's media and `/versions` endpoints.
   * Must be header-safe printable ASCII of at most 16 KiB (also in `setAccessToken` and what
   * `onTokenRefresh` returns); anything else is `invalid_argument` before any request.
   */
  accessToken: string;
  userId?: string;
  /**
   * Worker script URL; `null` never registers a worker. When absent: where a build plugin put the
   * worker (`matrix-authmedia/webpack` records it in `globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__`;
   * `matrix-authmedia/vite` writes `<meta name="matrix-authmedia-worker" content="…">`, which can
   * also be written by hand), else '/authmedia-sw.js'.
   */
  workerUrl?: string | null;
  /** 'auto' (default), 'force' (always the blob fallback) or 'never' (init fails without a worker). */
  fallback?: 'auto' | 'force' | 'never';
  /** Called on 401 M_UNKNOWN_TOKEN; resolves to a new access token. */
  onTokenRefresh?: () => string | Promise<string>;
  /** Byte budget of the fallback's object URLs (default 64 MiB). */
  budgetBytes?: number;
  /** Fallback fetches in flight at once (default 6). */
  concurrency?: number;
  /**
   * A fallback fetch that gets no response headers, or no body chunk, for this long is aborted
   * and fails with code `timeout` (default 30000; clamped to 1000..600000). Failed fetches are
   * retried first (429, 504 M_NOT_YET_UPLOADED, network and gateway errors: at most 4 attempts,
   * 20 s of waiting); network failures left after that have code `network`. The worker has its
   * own `fetchTimeoutMs` (`self.AUTHMEDIA_SW_OPTIONS`).
   */
  fetchTimeoutMs?: number;
  /**
   * How long `init` waits for a registered worker that is not active yet (first install, or a
   * browser that blocks service workers) before it resolves in the fallback with
   * `fallbackReason` `worker_not_ready`; the worker still takes over when it activates later.
   * Default 3000 (10000 with `fallback: 'never'`, where init then fails); clamped to 100..60000.
   */
  workerReadyTimeoutMs?: number;
}

export interface MountOptions {
  /**
   * Also show elements (`img`, `video`, `audio`, `source`) whose `src` is a media URL of the
   * session's homeserver (v1, unstable, legacy), while no worker serves the page: each is moved to
   * `data-mxc` (thumbnail parameters to `data-width`/`data-height`/`data-method`/`data-animated`;
   * the original kept in `data-authmedia-original-src`) and shown like other mounted elements.
   * The browser has already sent one tokenless request for the original `src` by then. Default false.
   */
  homeserverUrls?: boolean;
}

export interface ThumbnailOptions {
  width: number;
  height: number;
  method?: 'crop' | 'scale';
  animated?: boolean;
}

export interface SrcOptions {
  /** Ask for a server-side thumbnail instead of the original. */
  thumbnail?: ThumbnailOptions;
  /** File name for the download URL. */
  filename?: string;
}

/** The service worker's counters (per worker instance: they restart from zero with it). */
export interface WorkerStats {
  /** Media requests sent with the token (one per logical fetch: retries and joiners not counted again). */
  authenticated: number;
  /** Of those, legacy URLs sent to the authenticated endpoints. */
  upgraded: number;
  /** Media-looking requests of tabs without a session, left untouched. */
  passthrough: number;
  /** Requests finally answered 401/403, or failed (network, timeout). */
  refused: number;
  /** Answers served from the worker's in-memory media store. */
  cacheHits: number;
  /** Media fetches sent to the homeserver, retries included. */
  upstream: number;
  /** Of `upstream`, retries (network error, 429, 504 M_NOT_YET_UPLOADED, 502/503/504). */
  retries: number;
  /** Requests that joined an identical fetch in flight (same user, same URL) instead of sending their own. */
  deduped: number;
  /** Upstream fetches aborted because the homeserver stalled (`fetchTimeoutMs`). */
  timeouts: number;
  /** `authmedia:need-session` questions asked of tabs since this worker instance started. */
  sessionAsks: number;
  /** Bytes held by the media store. */
  storeBytes: number;
  /** Bodies held by the media store. */
  storeEntries: number;
  /** The media store's byte budget (`storeBudgetBytes`). */
  storeBudgetBytes: number;
  /** Upstream media fetches in progress now. */
  inflight: number;
  /** Size of the worker's wasm linear memory. */
  wasmMemoryBytes: number;
  /** Encrypted attachments verified and decrypted by WebCrypto (`crypto.subtle`). */
  decryptedWebCrypto: number;
  /** Encrypted attachments verified and decrypted by the core in wasm (no usable WebCrypto). */
  decryptedWasm: number;
  [key: string]: unknown;
}

export interface FallbackStats {
  fetches: number;
  cacheHits: number;
  /** Encrypted attachments verified and decrypted by WebCrypto (secure contexts). */
  decryptedWebCrypto: number;
  /** Encrypted attachments verified and decrypted in wasm (insecure contexts have no `crypto.subtle`). */
  decryptedWasm: number;
  evictions: number;
  /** Bytes held by live object URLs (never above budgetBytes). */
  bytes: number;
  objectUrls: number;
  budgetBytes: number;
  /** Object URLs held by mounted elements in view (never evicted). */
  pinned: number;
  inFlight: number;
}

export interface AuthMediaStats {
  /** The worker's counters as last reported (null without a worker). */
  worker: WorkerStats | null;
  fallback: FallbackStats;
  /** URLs handed out by this page, by endpoint kind. */
  byKind: { download: number; thumbnail: number };
  /** URLs handed out by this page, by the mode that served them. */
  byMode: { worker: number; fallback: number; legacy: number };
  mode: Mode;
}

/** An encrypted attachment (Matrix spec v1.11, `EncryptedFile`, `v: "v2"`). */
export interface EncryptedFile {
  url: string;
  key: { kty: 'oct'; alg: 'A256CTR'; key_ops: string[]; k: string; ext: true };
  iv: string;
  hashes: { sha256: string; [algorithm: string]: string };
  v: 'v2';
}
export interface EncryptedSrcOptions {
  /** The plaintext's type (from the event's `info.mimetype`); unsafe types become application/octet-stream. */
  mimetype?: string;
}

export interface ModeChangeDetail {
  mode: Mode;
  previous: Mode;
}
export interface ErrorDetail {
  error: AuthMediaError;
  mxc?: string;
}
export interface ProgressDetail {
  mxc: string;
  loaded: number;
  total: number | null;
}
export interface AuthMediaEventMap {
  modechange: CustomEvent<ModeChangeDetail>;
  error: CustomEvent<ErrorDetail>;
  progress: CustomEvent<ProgressDetail>;
}

/** One signed-in session on this page. */
export class AuthMedia {
  private constructor();
  /** Loads the wasm (idempotent), negotiates with `/versions`, registers the worker, picks a mode. */
  static init(options: AuthMediaOptions): Promise<AuthMedia>;
  readonly mode: Mode;
  readonly api: MediaApi;
  /** Why the fallback is used ('insecure_context', 'no_service_worker', 'uncontrolled', 'forced', ...), null in worker mode. */
  readonly fallbackReason: string | null;
  /**
   * A URL for `img.src`/`video.src` in the current mode (authenticated URL, blob: URL, or legacy URL).
   * `mxc` is an `mxc://` URI, or a media URL of the session's homeserver (`/_matrix/client/v1/media/…`,
   * the MSC3916 unstable prefix, or legacy `/_matrix/media/v3|r0/…`; relative ones are resolved against
   * the document), which carries its own request (then no `options`); any other URL is `invalid_mxc`
   * with reason `not_media`.
   */
  src(mxc: string, options?: SrcOptions): Promise<string>;
  /**
   * A URL for `img.src`/`video.src` showing an encrypted attachment, verified (SHA-256 over the
   * whole ciphertext) and decrypted (AES-256-CTR). Worker mode: a same-origin URL the worker
   * serves (ranges included); fallback: a `blob:` URL. A tampered or truncated ciphertext:
   * the promise rejects with `hash_mismatch` (fallback) or the URL answers a JSON error (worker).
   */
  srcEncrypted(file: EncryptedFile | string, options?: EncryptedSrcOptions): Promise<string>;
  /** The authenticated (or legacy) http URL, whatever the mode. */
  httpUrl(mxc: string, options?: SrcOptions): string;
  /**
   * Hydrates img/video/audio/source/a elements with `data-mxc` (+ data-width, data-height,
   * data-method, data-animated, data-filename) under `root`, also ones added later.
   * Encrypted attachments: img/video/audio/source elements with `data-encrypted` (the event's
   * `EncryptedFile` as JSON) and optionally `data-mimetype` (its `info.mimetype`) are shown
   * through the `srcEncrypted()` path (worker URL, or a verified decrypted `blob:` URL); with
   * both attributes `data-encrypted` wins (not on `a`, which uses `data-mxc`). Invalid JSON or a
   * malformed file: state `error`, `invalid_argument`, nothing requested; a tampered file:
   * `hash_mismatch`, which `retryFailed()` does not retry.
   * Returns the unmount function.
   */
  mount(root: Element, options?: MountOptions): () => void;
  /**
   * Loads again, without a page reload, every element hydrated by `mount()` whose state is
   * `error` for a reason that may pass: `network`, `load_failed` (a worker-mode element whose
   * worker could not say why), `timeout`, `rate_limited`, `server_error`, `not_yet_uploaded` — not `logged_out`,
   * `invalid_mxc`, `over_budget`, `not_found`, `forbidden`, `unauthorized`. Returns how many it
   * restarted. Runs by itself on the window's `online` event.
   */
  retryFailed(): number;
  /**
   * Replaces the access token (in the worker too). Mounted elements that failed `unauthorized`
   * (the old token was refused) load again once the worker has acknowledged the new one.
   */
  setAccessToken(token: string): void;
  /** Tells the worker to purge, revokes every object URL, clears mounted elements. */
  logout(): Promise<void>;
  /** Forces the blob fallback on, or back to automatic; emits 'modechange'. */
  setForceFallback(force: boolean): void;
  stats(): AuthMediaStats;
  /** Like stats(), after asking the worker for fresh counters. */
  refreshStats(): Promise<AuthMediaStats>;
  /** Fetches the file with the token and saves it (both modes). */
  download(mxc: string, filename?: string): Promise<void>;
  addEventListener<K extends keyof AuthMediaEventMap>(type: K, listener: (event: AuthMediaEventMap[K]) => void): void;
  removeEventListener<K extends keyof AuthMediaEventMap>(type: K, listener: (event: AuthMediaEventMap[K]) => void): void;
}

/** Loads the WebAssembly module once (later calls share the promise). */
export function initAsync(input?: string | URL | Request | Response | BufferSource | WebAssembly.Module): Promise<void>;
/** Whether initAsync() has completed. */
export function isInitialized(): boolean;

/** The parts of a matrix-js-sdk MatrixClient this package uses. */
export interface MatrixClientLike {
  getHomeserverUrl(): string;
  getAccessToken(): string | null;
  getUserId(): string | null;
  getRefreshToken?(): string | null;
  refreshToken?(refreshToken: string): Promise<{ access_token: string }>;
  setAccessToken?(token: string): void;
  logout?(...args: any[]): Promise<unknown>;
  on?(event: string, listener: (...args: any[]) => void): unknown;
}

/** An AuthMedia following a logged-in matrix-js-sdk client (token refresh, logout). */
export function fromMatrixClient(
  client: MatrixClientLike,
  options?: Omit<AuthMediaOptions, 'homeserver' | 'accessToken' | 'userId'>,
): Promise<AuthMedia>;
