// Types of `matrix-authmedia/webpack` (hand-written; checked by tests/types with tsc --noEmit).

/** The webpack 5 plugin: emits the service worker files and tells `AuthMedia.init` their URL. */
declare class AuthMediaWebpackPlugin {
  constructor();
  apply(compiler: unknown): void;
}

declare namespace AuthMediaWebpackPlugin {
  export { AuthMediaWebpackPlugin };
  /** The files emitted at the root of `output.path`. */
  export const WORKER_FILES: readonly ['authmedia-sw.js', 'authmedia_sw_bg.wasm', 'authmedia_sw_crypto_bg.wasm'];
}

export = AuthMediaWebpackPlugin;
