// Types of `matrix-authmedia/vite` (hand-written; checked by tests/types with tsc --noEmit).
import type { Plugin } from 'vite';

/** The worker files this plugin serves (`vite dev`) and emits (`vite build`), with their MIME types. */
export declare const WORKER_FILES: Readonly<Record<'authmedia-sw.js' | 'authmedia_sw_bg.wasm' | 'authmedia_sw_crypto_bg.wasm', string>>;

/** `<meta name="matrix-authmedia-worker" content="…">`: where the page SDK finds the worker script. */
export declare const WORKER_META_NAME: 'matrix-authmedia-worker';

/**
 * The Vite plugin: serves the service worker at the app's `base` in `vite dev`, emits it there in
 * `vite build`, and tells `AuthMedia.init` where it is (a meta element), so no `workerUrl` is needed.
 */
export default function authmedia(): Plugin;
