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
  /**
   * Finer code from the layer below (e.g. `exceeds_budget`, `invalid_media_id`, `unknown_token`).
   * From `AuthMedia.init`: `unreachable` (nothing answered at the homeserver URL; the message names
   * it), `not_a_homeserver` (something answered, not a Matrix `/versions`), `endpoint_path` (a
   * `homeserver` ending in `/_matrix`, `/_matrix/client`…: give the base URL).
   */
  readonly reason?: string;
  /** HTTP status of a server error. */
  readonly status?: number;
  /** Matrix `errcode` of a server error. */
  readonly errcode?: string;
  /** On a `no_worker` rejection (`fallback: 'never'`): why no worker serves the page. */
  readonly detail?: FallbackDetail;
}

export type Mode = 'worker' | 'fallback';

/** Why the fallback serves the page (`AuthMedia.fallbackReason`). */
export type FallbackReason =
  /** `fallback: 'force'` or `setForceFallback(true)`. */
  | 'forced'
  /** `workerUrl: null`. */
  | 'no_worker_url'
  /** Plain http (not localhost): browsers give service workers only to secure contexts. */
  | 'insecure_context'
  /** No `navigator.serviceWorker` (disabled by policy or preference, unsupported). */
  | 'no_service_worker'
  /** `register(workerUrl)` failed: the file is missing (HTTP status), has a wrong MIME type… */
  | 'registration_failed'
  /** The worker registered for a scope that does not cover this page (script not at the root). */
  | 'out_of_scope'
  /** Registered, not active within `workerReadyTimeoutMs` (it takes over once active). */
  | 'worker_not_ready'
  /** The active worker did not answer the session message (not authmedia's, or messages not passed on). */
  | 'worker_silent'
  /** The worker is another release's (an old copy of the worker files left on the site): `fallbackDetail` names both versions. */
  | 'worker_outdated'
  /** The worker refused the session. */
  | 'worker_refused_session'
  /** No worker controls the page yet (first load, hard reload); worker mode follows. */
  | 'uncontrolled'
  /**
   * Another `AuthMedia` of this tab logged out, which ended the tab's session in the worker: this
   * one serves from the fallback with its own token; `setAccessToken()` hands the worker its session again.
   */
  | 'session_ended';

/** The cause behind a `FallbackReason`, worded for whoever deploys the site. */
export interface FallbackDetail {
  reason: FallbackReason;
  /** What happened and what to do. */
  message: string;
  /** The worker script URL tried (absolute). */
  url?: string;
  /** `worker_outdated`: the worker's package version and protocol (absent: a worker from before the handshake). */
  workerVersion?: string;
  workerProtocol?: number;
  /** `worker_outdated`: this page SDK's package version and protocol. */
  pageVersion?: string;
  pageProtocol?: number;
  /** The HTTP status the worker script was served with, when not 2xx. */
  status?: number;
  /** The worker script's `Content-Type`, when not JavaScript. */
  contentType?: string;
  /** The registration's scope, when it does not cover the page (`out_of_scope`). */
  scope?: string;
  /** The browser's own words (a rejected `register()`), or the worker's (`worker_refused_session`: why it refused, e.g. its wasm did not load). */
  error?: string;
}
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
  /**
   * 'auto' (default), 'force' (always the blob fallback) or 'never' (init fails without a worker:
   * `no_worker`, with the cause in the message and in `detail`).
   */
  fallback?: 'auto' | 'force' | 'never';
  /**
   * Default true: when a deployment problem makes `init` use the fallback (worker file missing or
   * of the wrong type, out of scope, insecure context, …), one `console.warn` says why and what
   * to do (`fallbackDetail`). `false` silences it.
   */
  fallbackWarning?: boolean;
  /**
   * Called on 401 M_UNKNOWN_TOKEN for the token this instance holds (once for concurrent 401s);
   * resolves to a new access token. A 401 for a token already replaced (`setAccessToken`) is
   * answered with the current one, without a call.
   */
  onTokenRefresh?: () => string | Promise<string>;
  /** Byte budget of the fallback's object URLs (default 64 MiB). */
  budgetBytes?: number;
  /** Fallback fetches in flight at once (default 6, a browser's HTTP/1.1 connections per host; raise it for an HTTP/2 homeserver). */
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
  /**
   * User Timing marks at the steps of `init` that the page cannot see from outside
   * (`authmedia:versions-done`, `authmedia:session-sent`, `authmedia:session-acked`, and
   * `authmedia:controller-session-sent`/`-acked` when the session goes to a worker that took
   * control later), for profiling a cold start. The worker marks its own steps when its script URL
   * has a `performanceMarks` parameter (`workerUrl: '/authmedia-sw.js?performanceMarks'`).
   * Default false: nothing is added to the page's performance timeline.
   */
  performanceMarks?: boolean;
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
  /** The worker's package version (absent from workers of earlier releases). */
  version?: string;
  /** When the worker's script was evaluated (ms since the epoch): a new value means the browser started the worker again. */
  workerStartedAt?: number;
  /** When the wasm instance these counters belong to was created (ms since the epoch). */
  instanceStartedAt?: number;
  /** wasm instances of this worker start replaced after a trap (a bug): each restarts the counters. */
  instanceReplacements?: number;
  /** The error that replaced the last instance, or null. */
  lastTrap?: string | null;
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
  /** Why the fallback is used, null in worker mode. */
  readonly fallbackReason: FallbackReason | null;
  /** The cause behind `fallbackReason` (the worker URL tried, HTTP status, MIME type, scope) and what to do; null in worker mode. */
  readonly fallbackDetail: FallbackDetail | null;
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
   * Sizing (`img` only; the others load the original): `data-width` + `data-height` when both
   * are given; else the element's CSS box when it has one; else the original file. An
   * `<img alt="…">` without a CSS size has the box of its alt text: give it data-width/height.
   * Changing `data-mxc` on a mounted element removes its old picture at once.
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
   * (the old token was refused) load again once the worker has acknowledged the new one. After
   * another instance's `logout()` ended the tab's session (`fallbackReason: 'session_ended'`), it
   * hands the worker this instance's session again: worker mode, mounted elements reloaded.
   */
  setAccessToken(token: string): void;
  /**
   * Ends the session: tells the worker to purge, revokes every object URL, clears mounted
   * elements. The worker keeps one session per tab, so this ends it for every `AuthMedia` of the
   * tab: the others switch to the fallback (`modechange`, `fallbackReason: 'session_ended'`) and
   * keep serving with their own token. To drop one instance only (a component unmounting, React
   * StrictMode's cleanup), use `dispose()`.
   */
  logout(): Promise<void>;
  /**
   * Detaches this instance without ending the session: its mounted elements are unmounted
   * (`src` removed), its listeners removed, its object URLs revoked, its fallback fetches aborted.
   * The worker keeps the tab's session for the other instances. Later calls throw `logged_out`.
   */
  dispose(): void;
  /** Forces the blob fallback on, or back to automatic; emits 'modechange'. */
  setForceFallback(force: boolean): void;
  stats(): AuthMediaStats;
  /** Like stats(), after asking the worker for fresh counters. */
  refreshStats(): Promise<AuthMediaStats>;
  /** Fetches the file with the token and saves it (both modes). */
  download(mxc: string, filename?: string): Promise<void>;
  /**
   * Is this page ready for authenticated media? Worker control (and why not), an authenticated
   * request from this origin (a real CORS preflight naming Authorization), the negotiated API, a
   * test thumbnail in the current mode (with `mxc`), the page's and the worker's versions; one
   * verdict per question. Never rejects for what it finds.
   */
  diagnose(options?: DiagnoseOptions): Promise<DiagnoseReport>;
  addEventListener<K extends keyof AuthMediaEventMap>(type: K, listener: (event: AuthMediaEventMap[K]) => void): void;
  removeEventListener<K extends keyof AuthMediaEventMap>(type: K, listener: (event: AuthMediaEventMap[K]) => void): void;
}

export interface DiagnoseOptions {
  /** Media to try as a 32×32 thumbnail in the current mode (skipped without it). */
  mxc?: string;
  /** How long the thumbnail may take (default 15000 ms). */
  timeoutMs?: number;
}

export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export interface DiagnoseCheck {
  name: 'worker' | 'authenticated' | 'api' | 'thumbnail' | 'versions';
  verdict: Verdict;
  /** What was found. */
  detail: string;
  /** What to do, for `warn` / `fail` / `skip`; otherwise null. */
  advice: string | null;
}

export interface DiagnoseReport {
  packageVersion: string;
  mode: Mode;
  api: MediaApi;
  secureContext: boolean;
  /** Whether `navigator.serviceWorker` exists here. */
  serviceWorkerApi: boolean;
  /** Whether a service worker controls this page. */
  controlled: boolean;
  controllerScript: string | null;
  /** This origin's registration for the page's scope, if any. */
  registration: { scope: string; active: string | null; waiting: string | null; installing: string | null } | null;
  fallbackReason: FallbackReason | null;
  fallbackDetail: FallbackDetail | null;
  /** The worker's counters (and `version`), when a worker answered. */
  worker: WorkerStats | null;
  /** One authenticated `/versions` from this origin. */
  authenticated: { ok: boolean; api: MediaApi | null; code: AuthMediaErrorCode | null; message: string | null };
  /** The test thumbnail (`options.mxc`), or null. */
  thumbnail: { ok: boolean; mode: Mode; width: number; height: number; code: string | null; message: string | null } | null;
  checks: DiagnoseCheck[];
}

/** The package version of this loader. */
export const PACKAGE_VERSION: string;

/** Loads the WebAssembly module once (later calls share the promise). */
export function initAsync(input?: string | URL | Request | Response | BufferSource | WebAssembly.Module): Promise<void>;
/** Whether initAsync() has completed. */
export function isInitialized(): boolean;

/** The parts of a matrix-js-sdk MatrixClient this package uses. */
export interface MatrixClientLike {
  getHomeserverUrl(): string;
  getAccessToken(): string | null;
  getUserId(): string | null;
  /**
   * Any authenticated request: after the homeserver refused the SDK's token, the adapter calls it
   * so that the client's own refresh flow runs (matrix-js-sdk refreshes on `M_UNKNOWN_TOKEN`,
   * keeps the new access *and* refresh token, and calls its `onTokenRefresh`), then follows
   * `getAccessToken()`.
   */
  whoami?(): Promise<unknown>;
  setAccessToken?(token: string): void;
  logout?(...args: any[]): Promise<unknown>;
  on?(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * An AuthMedia following a logged-in matrix-js-sdk client. The adapter never refreshes tokens
 * itself: on a refused token it takes the client's current token if it changed, else calls
 * `options.onTokenRefresh` when given, else lets the client refresh (one `whoami()` through it)
 * and follows the token the client then holds. `client.setAccessToken()` and `client.logout()`
 * (and matrix-js-sdk's `Session.logged_out`) are followed too.
 */
export function fromMatrixClient(
  client: MatrixClientLike,
  options?: Omit<AuthMediaOptions, 'homeserver' | 'accessToken' | 'userId'>,
): Promise<AuthMedia>;
