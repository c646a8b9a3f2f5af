// The app lives under /app/; the plugin serves (dev) or emits (build) the service worker there and
// tells the SDK where it is, so AuthMedia.init needs no workerUrl.
import authmedia from 'matrix-authmedia/vite';

export default {
  base: '/app/',
  plugins: [authmedia()],
};
