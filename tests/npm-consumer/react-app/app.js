// Two gallery components, each with its own AuthMedia, under React 19 StrictMode: every effect runs
// init → cleanup → init, so each component creates two instances and disposes the first. The
// README's pattern: the effect's cleanup calls dispose() (also for an init still in flight), never
// logout(). window.startApp(cfg) renders; window.galleries[name] is the live instance.
import { StrictMode, createElement as h, useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { AuthMedia } from 'matrix-authmedia';

window.galleries = {};
window.lifecycle = [];

function Gallery({ name, options, mxcs }) {
  const ref = useRef(null);
  const [mode, setMode] = useState('starting');
  useEffect(() => {
    let media = null;
    let cancelled = false;
    window.lifecycle.push(`${name}:init`);
    AuthMedia.init(options).then(
      (m) => {
        if (cancelled) {
          m.dispose();
          window.lifecycle.push(`${name}:disposed`);
          return;
        }
        media = m;
        window.galleries[name] = m;
        m.addEventListener('modechange', () => setMode(m.mode));
        m.mount(ref.current);
        setMode(m.mode);
      },
      (e) => setMode(`failed: ${e.message}`),
    );
    return () => {
      cancelled = true;
      if (media) {
        media.dispose();
        window.lifecycle.push(`${name}:disposed`);
      }
    };
  }, []);
  return h(
    'section',
    { id: name, 'data-mode': mode, ref },
    mxcs.map((mxc, i) => h('img', { key: mxc, id: `${name}-${i}`, alt: '', 'data-mxc': mxc, 'data-width': 64 + i, 'data-height': 64 + i })),
  );
}

window.startApp = (cfg) => {
  const options = { homeserver: cfg.homeserver, accessToken: cfg.accessToken, userId: cfg.userId, fallbackWarning: false };
  createRoot(document.getElementById('app')).render(
    h(StrictMode, null, h(Gallery, { name: 'left', options, mxcs: cfg.mxcs }), h(Gallery, { name: 'right', options, mxcs: cfg.mxcs })),
  );
};
window.appReady = true;
