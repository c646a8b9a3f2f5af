// Added to every entry by matrix-authmedia/webpack: where the plugin put the worker script. Read by
// `AuthMedia.init` when it is given no `workerUrl`. `__webpack_public_path__` is the bundle's public
// path as webpack resolves it at run time (with `publicPath: 'auto'`, from the script's own URL).
/* global __webpack_public_path__ */
if (typeof document !== 'undefined' && globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__ === undefined) {
  globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__ = new URL(`${__webpack_public_path__}authmedia-sw.js`, document.baseURI).href;
}
