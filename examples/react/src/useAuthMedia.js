// React hooks over matrix-authmedia. Copy this file into your app.
import { useEffect, useState } from 'react';
import { AuthMedia } from 'matrix-authmedia';

/**
 * One AuthMedia for the signed-in session ({ homeserver, accessToken, userId }): `media` is null
 * while it starts (and when there is no session); `mode` follows it ('worker' or 'fallback': the
 * worker can take over after `init`). When the session goes away the media session is logged out:
 * the worker forgets the token and the blob URLs are revoked.
 */
export function useAuthMedia(session) {
  const [state, setState] = useState({ media: null, mode: null, error: null });
  useEffect(() => {
    if (!session) return undefined;
    let current = true;
    let made = null;
    const onModeChange = () => current && setState((s) => ({ ...s, mode: made.mode }));
    AuthMedia.init(session).then(
      (media) => {
        made = media;
        if (!current) return void media.logout();
        media.addEventListener('modechange', onModeChange);
        setState({ media, mode: media.mode, error: null });
      },
      (error) => current && setState({ media: null, mode: null, error }),
    );
    return () => {
      current = false;
      setState({ media: null, mode: null, error: null });
      if (made) {
        made.removeEventListener('modechange', onModeChange);
        made.logout();
      }
    };
  }, [session]);
  return state;
}

/**
 * Hydrates every `<img data-mxc>`, `<video data-mxc>`, `<a data-mxc download>` and
 * `data-encrypted` element inside `ref`, including ones React renders later. The returned
 * cleanup of `mount()` stops watching.
 */
export function useMountedMedia(media, ref) {
  useEffect(() => {
    if (!media || !ref.current) return undefined;
    return media.mount(ref.current);
  }, [media, ref]);
}

/** The URL to show one mxc URI with (e.g. a CSS background), or null until it is ready. */
export function useMediaSrc(media, mxc, thumbnail) {
  const [result, setResult] = useState({ src: null, error: null });
  const { width, height, method } = thumbnail ?? {};
  useEffect(() => {
    if (!media || !mxc) return undefined;
    let current = true;
    const options = width && height ? { thumbnail: { width, height, method } } : undefined;
    media.src(mxc, options).then(
      (src) => current && setResult({ src, error: null }),
      (error) => current && setResult({ src: null, error }),
    );
    return () => {
      current = false;
    };
  }, [media, mxc, width, height, method]);
  return result;
}
