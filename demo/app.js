// The authmedia demo page: log in, read one room's timeline, show its media through the package.
// Plain ES module, no framework. `matrix-authmedia` is resolved by the import map in index.html.
// It is imported dynamically so the page can say so when the package has not been built.
/** @type {any} */
let AuthMedia = null;

const $ = (sel) => /** @type {HTMLElement} */ (document.querySelector(sel));
const SESSION_KEY = 'authmedia-demo-session';
const STATS_INTERVAL_MS = 1000;

/** Page state, also exposed as `window.authmediaDemo` for the end-to-end test and for curious readers. */
const state = {
  config: /** @type {any} */ ({}),
  session: /** @type {{homeserver: string, accessToken: string, userId: string, deviceId?: string} | null} */ (null),
  media: /** @type {any} */ (null),
  unmount: /** @type {null | (() => void)} */ (null),
  roomId: /** @type {string | null} */ (null),
  items: /** @type {any[]} */ ([]),
  renders: 0,
  statsTimer: 0,
  forced: false,
  progressLogged: new Set(),
  avatar: /** @type {null | {mxc: string, alt: string}} */ (null),
};
window.authmediaDemo = state;

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Create an element: el('img', {alt: 'x', dataset: {mxc}}, child, ...). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function logEvent(text, kind = 'info') {
  const list = $('#log');
  const time = new Date().toLocaleTimeString([], { hour12: false });
  list.prepend(el('li', { class: kind }, el('time', { text: time }), ' ', text));
  while (list.children.length > 12) list.lastElementChild?.remove();
}

/** A client-server API call with the token in the Authorization header (never in the URL). */
async function api(path, { method = 'GET', json, token = state.session?.accessToken } = {}) {
  const base = state.session?.homeserver ?? '';
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    credentials: 'omit',
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(`${method} ${path.split('?')[0]}: ${res.status} ${body.errcode ?? ''} ${body.error ?? ''}`.trim());
    Object.assign(err, { status: res.status, errcode: body.errcode });
    throw err;
  }
  return body;
}

const enc = encodeURIComponent;

function animateThumbnails() {
  const choice = /** @type {HTMLSelectElement} */ ($('#motion')).value;
  if (choice === 'on') return true;
  if (choice === 'off') return false;
  return !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

// ---------------------------------------------------------------------------------------------
// Login

async function loadConfig() {
  try {
    const res = await fetch('/demo-config.json', { cache: 'no-store' });
    if (res.ok) return await res.json();
  } catch {
    // Served by some other static server: no config, empty form.
  }
  return {};
}

function normaliseHomeserver(value) {
  const url = new URL(value.trim());
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('the homeserver must be an http(s) URL');
  return url.href.replace(/\/+$/, '');
}

async function onLogin(event) {
  event.preventDefault();
  const status = $('#login-status');
  const button = /** @type {HTMLButtonElement} */ ($('#login-button'));
  button.disabled = true;
  status.textContent = 'Logging in…';
  try {
    const homeserver = normaliseHomeserver(/** @type {HTMLInputElement} */ ($('#hs')).value);
    const user = /** @type {HTMLInputElement} */ ($('#user')).value.trim();
    const password = /** @type {HTMLInputElement} */ ($('#password')).value;
    const res = await fetch(`${homeserver}/_matrix/client/v3/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'omit',
      body: JSON.stringify({
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user },
        password,
        initial_device_display_name: 'authmedia demo',
      }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`login failed: ${res.status} ${body.errcode ?? ''} ${body.error ?? ''}`.trim());
    state.session = { homeserver, accessToken: body.access_token, userId: body.user_id, deviceId: body.device_id };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
    status.textContent = '';
    await start();
  } catch (err) {
    status.textContent = String(err.message ?? err);
    status.className = 'error';
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  const session = state.session;
  stopApp();
  try {
    await state.media?.logout();
  } catch (err) {
    logEvent(`logout: ${err.message}`, 'error');
  }
  state.media = null;
  if (session) {
    await api('/_matrix/client/v3/logout', { method: 'POST', json: {}, token: session.accessToken }).catch(() => {});
  }
  state.session = null;
  sessionStorage.removeItem(SESSION_KEY);
  showLogin();
}

function showLogin() {
  $('#app').hidden = true;
  $('#me').hidden = true;
  $('#login-section').hidden = false;
  document.documentElement.dataset.demo = 'login';
  /** @type {HTMLInputElement} */ ($('#password')).focus();
}

function stopApp() {
  clearInterval(state.statsTimer);
  state.unmount?.();
  state.unmount = null;
  $('#timeline').replaceChildren();
  $('#legacy').replaceChildren();
}

// ---------------------------------------------------------------------------------------------
// After login: the SDK, the profile, the room

async function start() {
  const { homeserver, accessToken, userId } = /** @type {NonNullable<typeof state.session>} */ (state.session);
  document.documentElement.dataset.demo = 'loading';
  $('#login-section').hidden = true;
  $('#app').hidden = false;
  $('#hs-shown').textContent = homeserver;

  if (!state.media) {
    state.media = await AuthMedia.init({
      homeserver,
      accessToken,
      userId,
      workerUrl: '/authmedia-sw.js',
      fallback: 'auto',
    });
    state.media.addEventListener('modechange', (e) => {
      const reason = state.media.fallbackReason ? ` (${state.media.fallbackReason})` : '';
      logEvent(`mode ${e.detail?.previous ?? '?'} → ${state.media.mode}${reason}`);
      showMode();
      render();
    });
    state.media.addEventListener('error', (e) => {
      const err = e.detail?.error ?? {};
      const name = e.detail?.mxc ? ` (${e.detail.mxc.split('/').pop()})` : '';
      logEvent(`error ${err.code ?? ''}: ${err.message ?? err}${name}`, 'error');
    });
    state.media.addEventListener('progress', (e) => {
      const d = e.detail ?? {};
      // One line per large item and render (the SDK reports progress in steps, the last one twice).
      const key = `${state.renders} ${d.mxc}`;
      if (d.total >= 1024 * 1024 && d.loaded === d.total && !state.progressLogged.has(key)) {
        state.progressLogged.add(key);
        logEvent(`fallback fetched ${formatBytes(d.total)} (${d.mxc?.split('/').pop()})`);
      }
    });
  }
  /** @type {HTMLInputElement} */ ($('#force-fallback')).checked = state.forced === true;
  showMode();
  state.unmount = state.media.mount(document.body);

  await showProfile(userId);
  await chooseRoom();
  render();
  logEvent(`logged in as ${userId}; mode ${state.media.mode}, API ${state.media.api}${state.media.fallbackReason ? ` (${state.media.fallbackReason})` : ''}`);
  state.statsTimer = setInterval(showStats, STATS_INTERVAL_MS);
  showStats();
}

function showMode() {
  const mode = state.media?.mode ?? '–';
  const badge = $('#mode');
  badge.textContent = mode;
  badge.dataset.mode = mode;
  $('#api').textContent = state.media?.api ?? '–';
  document.documentElement.dataset.mode = mode;
}

async function showProfile(userId) {
  const profile = await api(`/_matrix/client/v3/profile/${enc(userId)}`).catch(() => ({}));
  $('#me').hidden = false;
  $('#me-name').textContent = profile.displayname ?? userId;
  $('#me-id').textContent = userId;
  state.avatar = typeof profile.avatar_url === 'string' ? { mxc: profile.avatar_url, alt: `Avatar of ${profile.displayname ?? userId}` } : null;
}

/** The avatar: a 96×96 crop thumbnail (one of the sizes servers pre-generate). Re-created on every render. */
function avatarElement() {
  if (!state.avatar) return el('span', { class: 'avatar placeholder', 'aria-hidden': 'true' });
  return el('img', {
    id: 'avatar',
    class: 'avatar',
    alt: state.avatar.alt,
    width: 96,
    height: 96,
    dataset: { mxc: state.avatar.mxc, width: '96', height: '96', method: 'crop' },
  });
}

async function chooseRoom() {
  const select = /** @type {HTMLSelectElement} */ ($('#room'));
  const { joined_rooms: rooms = [] } = await api('/_matrix/client/v3/joined_rooms');
  const options = await Promise.all(
    rooms.map(async (roomId) => {
      const name = await api(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name`).catch(() => ({}));
      return el('option', { value: roomId, text: name.name ?? roomId });
    }),
  );
  select.replaceChildren(...options);
  const preferred = state.roomId ?? state.config.roomId;
  if (preferred && rooms.includes(preferred)) select.value = preferred;
  state.roomId = select.value || null;
  await loadTimeline();
}

async function loadTimeline() {
  state.items = [];
  $('#room-topic').textContent = '';
  if (!state.roomId) {
    $('#room-title').textContent = 'No room joined';
    return;
  }
  const room = enc(state.roomId);
  const [name, topic, members, messages] = await Promise.all([
    api(`/_matrix/client/v3/rooms/${room}/state/m.room.name`).catch(() => ({})),
    api(`/_matrix/client/v3/rooms/${room}/state/m.room.topic`).catch(() => ({})),
    api(`/_matrix/client/v3/rooms/${room}/joined_members`).catch(() => ({ joined: {} })),
    api(`/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=200`),
  ]);
  $('#room-title').textContent = name.name ?? state.roomId;
  $('#room-topic').textContent = topic.topic ?? '';
  const displayName = (userId) => members.joined?.[userId]?.display_name ?? userId;
  state.items = (messages.chunk ?? [])
    .filter((ev) => ev.type === 'm.room.message' && ev.content && (typeof ev.content.url === 'string' || ev.content.file))
    .reverse()
    .map((ev) => ({
      eventId: ev.event_id,
      sender: displayName(ev.sender),
      msgtype: ev.content.msgtype,
      mxc: ev.content.url ?? null,
      encrypted: !ev.content.url,
      file: ev.content.file ?? null,
      name: ev.content.filename ?? ev.content.body ?? 'attachment',
      info: ev.content.info ?? {},
    }));
}

// ---------------------------------------------------------------------------------------------
// Rendering: every tile is a plain element with data-mxc that media.mount() hydrates

function render() {
  if (!state.media) return;
  state.renders += 1;
  const animated = animateThumbnails();
  $('#timeline').replaceChildren(...state.items.map((item) => tileFor(item, animated)));
  $('#legacy').replaceChildren(...legacyTiles());
  $('#avatar-slot').replaceChildren(avatarElement());
  const controlled = Boolean(navigator.serviceWorker?.controller);
  $('#legacy-controller').textContent = controlled
    ? 'Right now a worker controls this page: these URLs are upgraded.'
    : 'Right now no worker controls this page: these URLs go out without a token.';
  $('#legacy-controller').dataset.controlled = String(controlled);
  document.documentElement.dataset.demo = 'ready';
  document.documentElement.dataset.renders = String(state.renders);
}

/** Mark the tile loaded / failed when its media element settles, and say which URL served it. */
function watch(tile, media, how) {
  const settle = (ok) => {
    tile.dataset.state = ok ? 'loaded' : 'error';
    const src = media.currentSrc || media.src || media.href || '';
    const via = tile.querySelector('.via');
    if (!via) return;
    if (how.startsWith('legacy')) {
      const size = ok ? ` · ${media.naturalWidth}×${media.naturalHeight}` : '';
      if (navigator.serviceWorker?.controller) via.textContent = ok ? `loaded: the worker upgraded it to v1 + token${size}` : 'failed to load';
      else via.textContent = ok ? `loaded without a token (legacy endpoint)${size}` : 'not loaded: 404 without the worker (frozen)';
      return;
    }
    via.textContent = ok ? describeSrc(src, media) : 'failed to load';
  };
  if (media instanceof HTMLImageElement) {
    media.addEventListener('load', () => settle(true));
    media.addEventListener('error', () => settle(false));
  } else if (media instanceof HTMLVideoElement) {
    media.addEventListener('loadeddata', () => settle(true));
    media.addEventListener('error', () => settle(false));
  }
}

/** Human description of the URL an element ended up with. */
function describeSrc(src, media) {
  const size = media instanceof HTMLImageElement && media.naturalWidth ? ` · ${media.naturalWidth}×${media.naturalHeight}` : '';
  if (src.startsWith('blob:')) return `blob: URL (fallback)${size}`;
  try {
    const url = new URL(src);
    if (url.origin === location.origin) return `decrypted by the worker (same-origin URL)${size}`;
    const m = /\/_matrix\/(client\/v1\/media|client\/unstable\/org\.matrix\.msc3916\/media|media\/v3|media\/r0)\/(download|thumbnail)\//.exec(url.pathname);
    if (!m) return `${url.pathname}${size}`;
    const family = m[1].startsWith('client/v1') ? 'v1' : m[1].includes('msc3916') ? 'unstable' : 'legacy v3';
    const q = m[2] === 'thumbnail' ? ` ${url.searchParams.get('width')}×${url.searchParams.get('height')} ${url.searchParams.get('method') ?? ''}` : '';
    return `${family} ${m[2]}${q}${size}`;
  } catch {
    return size;
  }
}

function caption(item, extra) {
  const size = formatBytes(item.info.size);
  const dims = item.info.w && item.info.h ? `${item.info.w}×${item.info.h}` : '';
  return el(
    'figcaption',
    {},
    el('span', { class: 'name', text: item.name }),
    el('span', { class: 'meta', text: [item.info.mimetype, dims, size, `from ${item.sender}`].filter(Boolean).join(' · ') }),
    extra ?? null,
    el('span', { class: 'via', text: 'loading…' }),
  );
}

function tileFor(item, animated) {
  const kind = item.encrypted ? 'encrypted' : item.msgtype === 'm.image' ? 'image' : item.msgtype === 'm.video' ? 'video' : 'file';
  const tile = el('li', { class: `tile ${kind}`, dataset: { kind, state: 'loading', event: item.eventId } });

  if (kind === 'encrypted') {
    // Encrypted attachments (EncryptedFile): verified and decrypted by the SDK when it offers
    // srcEncrypted (issue 7); until then the tile says so.
    if (typeof state.media.srcEncrypted !== 'function' || !item.file) {
      tile.dataset.state = 'skipped';
      tile.append(
        el(
          'figure',
          {},
          el('div', { class: 'placeholder', text: 'Encrypted attachment' }),
          caption(item),
        ),
      );
      const via = tile.querySelector('.via');
      if (via) via.textContent = 'not shown: this SDK build has no srcEncrypted() yet';
      return tile;
    }
    const img = el('img', { alt: `${item.name} (decrypted)`, width: 320, height: 240 });
    watch(tile, img, 'encrypted');
    state.media.srcEncrypted(item.file, { mimetype: item.info.mimetype }).then(
      (url) => {
        if (img.isConnected || tile.isConnected) img.src = url;
      },
      (err) => {
        tile.dataset.state = 'error';
        const via = tile.querySelector('.via');
        if (via) via.textContent = `failed: ${err.code ?? ''} ${err.message}`;
      },
    );
    tile.append(el('figure', {}, el('div', { class: 'thumb' }, img), caption(item, el('span', { class: 'meta', text: 'encrypted: verified and decrypted by the SDK' }))));
    return tile;
  }

  if (kind === 'image') {
    const isGif = item.info.mimetype === 'image/gif';
    const img = el('img', {
      alt: `${item.name} (thumbnail)`,
      width: 320,
      height: 240,
      dataset: {
        mxc: item.mxc,
        width: '320',
        height: '240',
        method: 'scale',
        ...(isGif ? { animated: String(animated) } : {}),
      },
    });
    watch(tile, img, 'thumbnail');
    const open = el('button', { type: 'button', class: 'thumb', 'aria-label': `Open full image: ${item.name}`, onclick: () => openViewer(item) }, img);
    tile.append(el('figure', {}, open, caption(item, isGif ? el('span', { class: 'meta', text: animated ? 'animated thumbnail' : 'still thumbnail (reduced motion)' }) : null)));
    return tile;
  }

  if (kind === 'video') {
    const video = el('video', {
      controls: true,
      preload: 'auto',
      playsinline: true,
      muted: true,
      'aria-label': `Video: ${item.name}`,
      width: 320,
      height: 180,
      dataset: { mxc: item.mxc },
    });
    watch(tile, video, 'video');
    tile.append(el('figure', {}, video, caption(item)));
    return tile;
  }

  // A file: a real link (keyboard, context menu) hydrated by mount(), plus the explicit API call.
  const link = el(
    'a',
    { class: 'file-link', href: '#', download: item.name, dataset: { mxc: item.mxc, filename: item.name } },
    el('span', { class: 'file-icon', 'aria-hidden': 'true', text: '⤓' }),
    ` ${item.name}`,
  );
  const save = el('button', {
    type: 'button',
    class: 'secondary',
    text: 'media.download()',
    'aria-label': `Save ${item.name} with media.download()`,
    onclick: async () => {
      try {
        await state.media.download(item.mxc, item.name);
        logEvent(`saved ${item.name}`);
      } catch (err) {
        logEvent(`download: ${err.code ?? ''} ${err.message}`, 'error');
      }
    },
  });
  tile.dataset.state = 'loaded';
  tile.append(el('figure', {}, el('div', { class: 'file-box' }, link, save), caption(item)));
  const via = tile.querySelector('.via');
  if (via) via.textContent = 'downloads with its file name';
  return tile;
}

function openViewer(item) {
  const dialog = /** @type {HTMLDialogElement} */ ($('#viewer'));
  $('#viewer-title').textContent = item.name;
  // The full image through media.src() (no thumbnail option: the download endpoint). mount() would
  // size a thumbnail from the element's box, which is what the grid wants and the viewer does not.
  const img = el('img', { alt: item.name, class: 'full' });
  const via = el('p', { class: 'muted small via', text: 'loading…' });
  img.addEventListener('load', () => (via.textContent = `media.src(): ${describeSrc(img.currentSrc, img)}`));
  img.addEventListener('error', () => (via.textContent = 'failed to load'));
  $('#viewer-body').replaceChildren(img, via);
  dialog.showModal();
  state.media.src(item.mxc).then(
    (url) => {
      if (img.isConnected) img.src = url;
    },
    (err) => {
      via.textContent = `failed: ${err.code ?? ''} ${err.message}`;
    },
  );
}

/** Legacy /_matrix/media/v3 URLs for the pre-freeze item and a post-freeze image. */
function legacyTiles() {
  const base = state.session?.homeserver ?? '';
  const images = state.items.filter((i) => i.msgtype === 'm.image' && i.mxc && i.info.mimetype !== 'image/gif');
  const pre = images.find((i) => i.mxc === state.config.prefreezeMxc);
  const others = images.filter((i) => i.mxc !== state.config.prefreezeMxc);
  const post = others.find((i) => i.info.mimetype === 'image/jpeg') ?? others[0];
  const tiles = [];
  for (const [item, frozen] of [
    [pre, false],
    [post, true],
  ]) {
    if (!item) continue;
    const m = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/.exec(item.mxc);
    if (!m) continue;
    const path = `${enc(m[1])}/${enc(m[2])}`;
    const label = frozen ? 'uploaded after the freeze' : 'uploaded before the freeze';
    // A distinct query per render so the browser's image cache cannot answer for another mode.
    const view = `demo_view=${state.renders}`;
    for (const [what, url] of [
      ['thumbnail 96×96 crop', `${base}/_matrix/media/v3/thumbnail/${path}?width=96&height=96&method=crop&${view}`],
      ['download', `${base}/_matrix/media/v3/download/${path}?${view}`],
    ]) {
      const tile = el('li', { class: 'tile legacy', dataset: { kind: 'legacy', frozen: String(frozen), state: 'loading' } });
      const img = el('img', { alt: `${item.name}, ${what} via a legacy URL`, src: url, width: 160, height: 120 });
      watch(tile, img, frozen ? 'legacy-frozen' : 'legacy');
      tile.append(
        el(
          'figure',
          {},
          el('div', { class: 'legacy-box' }, img),
          el(
            'figcaption',
            {},
            el('span', { class: 'name', text: `${item.name}: ${what}` }),
            el('span', { class: 'meta', text: label }),
            el('code', { class: 'url', text: new URL(url).pathname.replace(/^\/_matrix\/media\/v3\//, '…/media/v3/') }),
            el('span', { class: 'via', text: 'loading…' }),
          ),
        ),
      );
      tiles.push(tile);
    }
  }
  return tiles;
}

// ---------------------------------------------------------------------------------------------
// Status panel: counters from media.stats()

const LABELS = {
  authenticated: 'token added',
  upgraded: 'legacy → v1',
  passthrough: 'passed through',
  refused: 'refused',
  cacheHits: 'cache hits',
  decryptedWebCrypto: 'decrypted (WebCrypto)',
  decryptedWasm: 'decrypted (wasm)',
  fetches: 'fetches',
  evictions: 'evictions',
  bytes: 'bytes held',
  objectUrls: 'object URLs',
  budgetBytes: 'budget',
  inFlight: 'in flight',
  download: 'download',
  thumbnail: 'thumbnail',
};

function flatten(obj, prefix = '') {
  const rows = [];
  for (const [key, value] of Object.entries(obj ?? {})) {
    const name = prefix ? `${prefix} ${LABELS[key] ?? key}` : LABELS[key] ?? key;
    if (value && typeof value === 'object') rows.push(...flatten(value, name));
    else rows.push([key, name, value]);
  }
  return rows;
}

async function showStats() {
  if (!state.media) return;
  let stats;
  try {
    // refreshStats() (when present) asks the worker for its counters; stats() returns the latest.
    if (typeof state.media.refreshStats === 'function') await state.media.refreshStats();
    stats = await state.media.stats();
  } catch (err) {
    $('#stats').textContent = `stats unavailable: ${err.message}`;
    return;
  }
  const groups = [
    ['Worker', stats.worker, stats.worker ? null : 'no worker'],
    ['Fallback', stats.fallback, null],
    ['By kind', stats.byKind, null],
    ...(stats.byMode ? [['By mode', stats.byMode, null]] : []),
  ];
  const tables = groups.map(([title, values, empty]) => {
    const rows = flatten(values).map(([key, name, value]) =>
      el('tr', { dataset: { key } }, el('th', { scope: 'row', text: name }), el('td', { text: key === 'bytes' || key === 'budgetBytes' ? formatBytes(value) : String(value) })),
    );
    return el(
      'table',
      { class: 'counters', dataset: { group: title.toLowerCase().replace(/\s+/g, '-') } },
      el('caption', { text: title }),
      el('tbody', {}, ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 2, class: 'muted', text: empty ?? '–' }))])),
    );
  });
  $('#stats').replaceChildren(...tables);
  $('#stats').dataset.json = JSON.stringify(stats);
}

// ---------------------------------------------------------------------------------------------
// Diagnose: media.diagnose() as a table (one row per check, with what to do)

async function onDiagnose() {
  const out = $('#diagnose-report');
  if (!state.media) {
    out.textContent = 'log in first';
    return;
  }
  out.textContent = 'diagnosing…';
  // A thumbnail of the first item of the room, if there is one.
  const mxc = document.querySelector('#timeline [data-mxc]')?.getAttribute('data-mxc') ?? undefined;
  const report = await state.media.diagnose(mxc ? { mxc } : {});
  const rows = report.checks.map((c) =>
    el(
      'tr',
      { dataset: { check: c.name, verdict: c.verdict } },
      el('th', { scope: 'row', text: c.name }),
      el('td', { class: `verdict ${c.verdict}`, text: c.verdict }),
      el('td', { text: c.advice ? `${c.detail} — ${c.advice}` : c.detail }),
    ),
  );
  out.replaceChildren(el('table', { class: 'counters', dataset: { group: 'diagnose' } }, el('caption', { text: `mode ${report.mode}, API ${report.api}` }), el('tbody', {}, ...rows)));
  out.dataset.json = JSON.stringify(report);
  logEvent(`diagnose: ${report.checks.map((c) => `${c.name} ${c.verdict}`).join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Wiring

async function main() {
  state.config = await loadConfig();
  try {
    ({ AuthMedia } = await import('matrix-authmedia'));
  } catch (err) {
    throw new Error(`cannot load the matrix-authmedia package (run scripts/build.sh): ${err.message ?? err}`);
  }
  /** @type {HTMLInputElement} */ ($('#hs')).value = state.config.homeserver ?? '';
  /** @type {HTMLInputElement} */ ($('#user')).value = state.config.user ?? '';
  /** @type {HTMLInputElement} */ ($('#password')).value = state.config.password ?? '';
  $('#login').addEventListener('submit', onLogin);
  // Enabled only once the handler is attached: an earlier click would submit the form natively.
  /** @type {HTMLButtonElement} */ ($('#login-button')).disabled = false;
  $('#logout').addEventListener('click', onLogout);
  $('#diagnose').addEventListener('click', onDiagnose);
  $('#force-fallback').addEventListener('change', (e) => {
    const on = /** @type {HTMLInputElement} */ (e.target).checked;
    state.forced = on;
    logEvent(on ? 'forcing the fallback' : 'fallback no longer forced');
    state.media?.setForceFallback(on);
  });
  $('#room').addEventListener('change', async (e) => {
    state.roomId = /** @type {HTMLSelectElement} */ (e.target).value;
    await loadTimeline();
    render();
  });
  $('#motion').addEventListener('change', render);
  window.matchMedia('(prefers-reduced-motion: reduce)').addEventListener('change', render);
  $('#viewer-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('#viewer')).close());
  $('#viewer').addEventListener('click', (e) => {
    if (e.target === e.currentTarget) /** @type {HTMLDialogElement} */ (e.currentTarget).close();
  });
  $('#viewer').addEventListener('close', () => $('#viewer-body').replaceChildren());

  const saved = sessionStorage.getItem(SESSION_KEY);
  if (saved) {
    try {
      state.session = JSON.parse(saved);
      await api('/_matrix/client/v3/account/whoami');
      await start();
      return;
    } catch (err) {
      sessionStorage.removeItem(SESSION_KEY);
      state.session = null;
      state.media = null;
      if (err.status !== 401) logEvent(String(err.message ?? err), 'error');
    }
  }
  showLogin();
}

main().catch((err) => {
  const status = $('#login-status');
  status.textContent = `demo failed to start: ${err.message ?? err}`;
  status.className = 'error';
  document.documentElement.dataset.demo = 'failed';
});
