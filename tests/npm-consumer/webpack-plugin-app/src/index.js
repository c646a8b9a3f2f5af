// The quick start bundled by webpack 5 with the plugin: no workerUrl, though the app is served
// under a sub-path.
import { AuthMedia } from 'matrix-authmedia';

window.startApp = async ({ homeserver, accessToken, userId, mxc }) => {
  const media = await AuthMedia.init({ homeserver, accessToken, userId });
  window.media = media;
  const app = document.getElementById('app');
  app.innerHTML = `<img id="avatar" data-mxc="${mxc}" data-width="96" data-height="96" data-method="crop" alt="">`;
  media.mount(app);
  return { mode: media.mode, reason: media.fallbackReason };
};
window.appReady = true;
