// What an integrator writes (README "Quick start"), bundled by webpack 5 from the installed tarball.
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
window.appReady = true;
