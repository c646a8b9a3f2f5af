// matrix-js-sdk adapter: fromMatrixClient(client) follows the client's token and logout.
import { createClient } from 'matrix-js-sdk';
import { fromMatrixClient, AuthMediaError } from 'matrix-authmedia';

window.startSdk = async ({ baseUrl, accessToken, userId, mxc }) => {
  const client = createClient({ baseUrl, accessToken, userId });
  const media = await fromMatrixClient(client, { fallback: 'force' });
  window.client = client;
  window.media = media;
  const app = document.getElementById('app');
  app.innerHTML = `<img id="pic" data-mxc="${mxc}" alt="">`;
  media.mount(app);
  return { mode: media.mode, api: media.api };
};

window.codeOf = async (promise) => {
  try {
    await promise;
    return null;
  } catch (e) {
    return e instanceof AuthMediaError ? e.code : `not an AuthMediaError: ${e}`;
  }
};
window.sdkReady = true;
