// Page side of the page↔worker protocol, for the worker's end-to-end tests (window.t).
// The message listener is registered synchronously, before anything else, so that a restarted
// worker's `authmedia:need-session` question is answered even while the page is still loading.
'use strict';

const state = {
  session: null, // {homeserver, accessToken, userId}
  api: undefined, // "v1" | "unstable" | "legacy" | undefined (the worker negotiates)
  freshToken: null, // answer to the next authmedia:need-token
  log: [], // every message the worker sent: {type, ...}
};

navigator.serviceWorker.addEventListener('message', (event) => {
  const data = event.data || {};
  state.log.push(JSON.parse(JSON.stringify(data)));
  const port = event.ports[0];
  if (data.type === 'authmedia:need-session' && port) {
    port.postMessage(state.session ? { session: state.session, api: state.api } : { session: null });
  } else if (data.type === 'authmedia:need-token' && port) {
    const token = state.freshToken;
    if (token) state.session = { ...state.session, accessToken: token };
    port.postMessage({ accessToken: token });
  }
});
navigator.serviceWorker.startMessages();

/** Posts a message to the controlling worker and waits (bounded) for the answer on a port. */
function ask(message, timeoutMs = 10000) {
  const type = typeof message === 'string' ? message : message.type;
  const channel = new MessageChannel();
  return new Promise((resolve, reject) => {
    // An uncontrolled page (hard reload) talks to the registration's active worker.
    const worker = navigator.serviceWorker.controller || activeWorker;
    if (!worker) {
      reject(new Error('no worker to talk to'));
      return;
    }
    const timer = setTimeout(() => reject(new Error(`no answer to ${type}`)), timeoutMs);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data);
    };
    worker.postMessage(message, [channel.port2]);
  });
}

let activeWorker = null;
navigator.serviceWorker.getRegistration('/').then((registration) => {
  activeWorker = (registration && registration.active) || null;
});

function waitForController(timeoutMs = 10000) {
  if (navigator.serviceWorker.controller) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no controller')), timeoutMs);
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

window.t = {
  state,
  /** Registers the worker (script URL relative to the site root) and waits until it controls the page. */
  async register(script = '/dist/authmedia-sw.js') {
    await navigator.serviceWorker.register(script, { scope: '/' });
    activeWorker = (await navigator.serviceWorker.ready).active;
    await waitForController();
    return true;
  },
  controlled: () => Boolean(navigator.serviceWorker.controller),
  /** Gives the worker this tab's session (and keeps it to answer need-session later). */
  async setSession(session, api) {
    state.session = session;
    state.api = api;
    return ask({ type: 'authmedia:session', session, ...(api ? { api } : {}) });
  },
  /** Keeps a session to answer need-session with, without telling the worker. */
  rememberSession(session, api) {
    state.session = session;
    state.api = api;
  },
  setFreshToken(token) {
    state.freshToken = token;
  },
  async sendToken(accessToken) {
    if (state.session) state.session = { ...state.session, accessToken };
    return ask({ type: 'authmedia:token', accessToken });
  },
  async logout() {
    state.session = null;
    return ask({ type: 'authmedia:logout' });
  },
  stats: () => ask({ type: 'authmedia:stats' }),
  /** A raw message to the controlling worker (test workers answer some on the port). */
  raw: (message) => ask(message),
  claim: () => ask({ type: 'authmedia:claim' }),
  /** Resolves once the registration has an active worker (also in an uncontrolled page). */
  async ready() {
    activeWorker = (await navigator.serviceWorker.ready).active;
    return Boolean(activeWorker);
  },
  /** Loads an <img>; resolves {loaded, naturalWidth, naturalHeight} (bounded wait). */
  loadImage(src, timeoutMs = 15000) {
    return new Promise((resolve) => {
      const img = new Image();
      const done = (loaded) => {
        clearTimeout(timer);
        resolve({ loaded, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight });
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      img.onload = () => done(true);
      img.onerror = () => done(false);
      img.src = src;
      document.body.appendChild(img);
    });
  },
  /** fetch() through the worker; resolves {status, headers, text} (text truncated). */
  async fetch(url, init = {}) {
    const response = await fetch(url, init);
    const body = await response.arrayBuffer();
    const headers = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const text = new TextDecoder().decode(body.slice(0, 2000));
    return { status: response.status, type: response.type, headers, length: body.byteLength, text };
  },
  /** Creates a <video>, waits until it can play, plays, seeks to `seekTo` seconds. */
  async video(src, seekTo, timeoutMs = 30000, crossOrigin = null) {
    const video = document.createElement('video');
    if (crossOrigin) video.crossOrigin = crossOrigin;
    video.muted = true;
    video.preload = 'auto';
    document.body.appendChild(video);
    const until = (name) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`video: no ${name} (error ${video.error && video.error.code})`)), timeoutMs);
        video.addEventListener(name, () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
        video.addEventListener('error', () => {
          clearTimeout(timer);
          reject(new Error(`video error ${video.error && video.error.code}: ${video.error && video.error.message}`));
        }, { once: true });
      });
    const canPlay = until('canplay');
    video.src = src;
    await canPlay;
    await video.play();
    const playing = video.currentTime >= 0;
    const seeked = until('seeked');
    video.currentTime = seekTo;
    await seeked;
    if (video.readyState < 2) {
      await until('canplay');
    }
    return {
      duration: video.duration,
      currentTime: video.currentTime,
      readyState: video.readyState,
      playing,
      videoWidth: video.videoWidth,
      buffered: Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]),
    };
  },
};
