// What an integrator writes (README "Quick start"), bundled by Vite from the installed tarball.
import { AuthMedia, AuthMediaError } from 'matrix-authmedia';

window.startApp = async ({ homeserver, accessToken, userId, mxc }) => {
  const media = await AuthMedia.init({ homeserver, accessToken, userId });
  const app = document.getElementById('app');
  app.innerHTML = `<img id="avatar" data-mxc="${mxc}" style="width:48px;height:48px" data-method="crop" alt="">`;
  media.mount(app);
  let code = null;
  try {
    await media.src('mxc://not valid');
  } catch (e) {
    code = e instanceof AuthMediaError ? e.code : String(e);
  }
  window.media = media;
  return { mode: media.mode, api: media.api, badMxcCode: code };
};
// An encrypted attachment shown by a fallback instance: its decryption module is loaded on demand
// (a chunk and a wasm asset of the bundle).
window.showEncrypted = async ({ homeserver, accessToken, userId, file }) => {
  const media = await AuthMedia.init({ homeserver, accessToken, userId, fallback: 'force' });
  try {
    const img = new Image();
    img.src = await media.srcEncrypted(file, { mimetype: 'image/png' });
    await img.decode();
    return { mode: media.mode, width: img.naturalWidth };
  } finally {
    media.dispose();
  }
};
window.appReady = true;
