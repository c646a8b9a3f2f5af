// A matrix-js-sdk client with a refresh token, as an app keeps it: its session (both tokens) in a
// store the client's onTokenRefresh callback updates. The media follow the client through
// fromMatrixClient; refreshing is the client's own business.
import { createClient } from 'matrix-js-sdk';
import { fromMatrixClient, AuthMediaError } from 'matrix-authmedia';

window.startRefreshApp = async ({ baseUrl, accessToken, refreshToken, userId, deviceId, fallback }) => {
  window.store = { accessToken, refreshToken };
  window.refreshCalls = [];
  const client = createClient({
    baseUrl,
    accessToken,
    refreshToken,
    userId,
    deviceId,
    oauthClientId: 'authmedia-e2e',
    onTokenRefresh: (tokens) => {
      window.refreshCalls.push({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken });
      window.store = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
    },
  });
  const media = await fromMatrixClient(client, fallback ? { fallback: 'force' } : {});
  window.client = client;
  window.media = media;
  window.errors = [];
  media.addEventListener('error', (e) => window.errors.push(`${e.detail.error?.code}: ${e.detail.error?.message}`));
  window.unmount = media.mount(document.getElementById('app'));
  return { mode: media.mode, api: media.api };
};

/** What the client holds now (its own state, as js-sdk reports it). */
window.clientTokens = () => ({ accessToken: window.client.getAccessToken(), refreshToken: window.client.getRefreshToken() });

window.codeOf = async (promise) => {
  try {
    await promise;
    return null;
  } catch (e) {
    return e instanceof AuthMediaError ? e.code : `not an AuthMediaError: ${e}`;
  }
};
window.appReady = true;
