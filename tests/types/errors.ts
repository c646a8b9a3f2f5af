// Misuse the types must reject: each line carries @ts-expect-error, so tsc fails if the types
// ever accept it (an unused @ts-expect-error is an error).
import { AuthMedia } from 'matrix-authmedia';

export async function misuse(media: AuthMedia): Promise<void> {
  // @ts-expect-error homeserver is required
  await AuthMedia.init({ accessToken: 't' });
  // @ts-expect-error fallback has three values
  await AuthMedia.init({ homeserver: 'https://h', accessToken: 't', fallback: 'sometimes' });
  // @ts-expect-error method is crop or scale
  await media.src('mxc://h/a', { thumbnail: { width: 1, height: 1, method: 'stretch' } });
  // @ts-expect-error unknown event type
  media.addEventListener('loaded', () => {});
  // @ts-expect-error the constructor is private: use AuthMedia.init
  new AuthMedia();
  // @ts-expect-error mode is read-only
  media.mode = 'worker';
  // @ts-expect-error fallbackReason is a closed union
  if (media.fallbackReason === 'registration_faild') return;
  // @ts-expect-error fallbackWarning is a boolean
  await AuthMedia.init({ homeserver: 'https://h', accessToken: 't', fallbackWarning: 'off' });
}
