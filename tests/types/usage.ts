// Compile-only usage of the package's public types (tests/node_modules/.bin/tsc -p tests/types).
import { AuthMedia, AuthMediaError, initAsync, fromMatrixClient, type AuthMediaStats, type Mode } from 'matrix-authmedia';

export async function usage(root: HTMLElement, token: string): Promise<void> {
  await initAsync();
  const media = await AuthMedia.init({
    homeserver: 'https://matrix.example.org',
    accessToken: token,
    userId: '@alice:example.org',
    workerUrl: '/authmedia-sw.js',
    fallback: 'auto',
    onTokenRefresh: async () => 'new-token',
    budgetBytes: 64 * 1024 * 1024,
    fetchTimeoutMs: 30_000,
    workerReadyTimeoutMs: 3_000,
  });
  const mode: Mode = media.mode;
  const api: 'v1' | 'unstable' | 'legacy' = media.api;
  const url: string = await media.src('mxc://example.org/abc', { thumbnail: { width: 96, height: 96, method: 'crop', animated: false } });
  const named: string = await media.src('mxc://example.org/abc', { filename: 'a.png' });
  const unmount: () => void = media.mount(root);
  const unwatch: () => void = media.mount(root, { homeserverUrls: true });
  unwatch();
  // @ts-expect-error homeserverUrls is a boolean
  media.mount(root, { homeserverUrls: 'yes' });
  const fromUrl: string = await media.src('https://matrix.example.org/_matrix/media/v3/download/example.org/abc');
  const restarted: number = media.retryFailed();
  unmount();
  media.setAccessToken('t2');
  media.setForceFallback(true);
  const stats: AuthMediaStats = media.stats();
  const n: number = stats.fallback.bytes + stats.byKind.thumbnail + (stats.worker?.authenticated ?? 0);
  media.addEventListener('modechange', (e) => {
    const m: Mode = e.detail.mode;
    console.log(m);
  });
  media.addEventListener('progress', (e) => console.log(e.detail.loaded, e.detail.total ?? -1));
  media.addEventListener('error', (e) => console.log(e.detail.error.code));
  await media.download('mxc://example.org/abc', 'file.bin');
  await media.logout();
  const disposed: void = media.dispose();
  console.log(mode, api, url, named, n, restarted, disposed);

  const viaClient = await fromMatrixClient({
    getHomeserverUrl: () => 'https://matrix.example.org',
    getAccessToken: () => token,
    getUserId: () => '@alice:example.org',
  }, { fallback: 'force' });
  console.log(viaClient.mode);
}

export function isCode(e: unknown): string | null {
  return e instanceof AuthMediaError ? e.code : null;
}

/** The fallback's reason is a closed union: a switch over it can be exhaustive. */
export async function deployment(): Promise<string> {
  const media = await AuthMedia.init({ homeserver: 'https://matrix.example.org', accessToken: 't', fallbackWarning: false });
  const detail = media.fallbackDetail;
  if (detail) {
    const status: number | undefined = detail.status;
    const type: string | undefined = detail.contentType;
    console.log(detail.message, detail.url, status, type, detail.scope);
    const versions: [string | undefined, number | undefined, string | undefined, number | undefined] = [
      detail.workerVersion,
      detail.workerProtocol,
      detail.pageVersion,
      detail.pageProtocol,
    ];
    console.log(versions);
  }
  const reason = media.fallbackReason;
  if (reason === null) return 'worker';
  switch (reason) {
    case 'forced':
    case 'no_worker_url':
    case 'insecure_context':
    case 'no_service_worker':
    case 'registration_failed':
    case 'out_of_scope':
    case 'worker_not_ready':
    case 'worker_silent':
    case 'worker_refused_session':
    case 'uncontrolled':
    case 'worker_outdated':
    case 'session_ended':
      return reason;
    default: {
      const never: never = reason;
      return never;
    }
  }
}
