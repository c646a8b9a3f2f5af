// matrix-authmedia/webpack: a webpack 5 plugin that ships the service worker with the app.
//
// - emits `authmedia-sw.js`, `authmedia_sw_bg.wasm` and `authmedia_sw_crypto_bg.wasm` (from this
//   package's `sw/`) at the root of `output.path`, so they sit at the bundle's public path (the
//   worker loads its wasm, and on its first encrypted attachment its decryption module, from next
//   to itself);
// - adds a tiny module to every entry that records the worker's URL — the bundle's public path
//   (`output.publicPath`, also 'auto') + `authmedia-sw.js`, resolved when the bundle runs — in
//   `globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__`, which `AuthMedia.init` reads when it is given no
//   `workerUrl`. So an app served under a sub-path needs no hand-written `workerUrl`.
//
// CommonJS, so a `webpack.config.js` of either module kind can load it.
'use strict';

const { readFileSync } = require('node:fs');
const path = require('node:path');

const NAME = 'matrix-authmedia';
const WORKER_FILES = Object.freeze(['authmedia-sw.js', 'authmedia_sw_bg.wasm', 'authmedia_sw_crypto_bg.wasm']);

class AuthMediaWebpackPlugin {
  constructor(options) {
    if (options !== undefined) {
      throw new TypeError('matrix-authmedia/webpack: the plugin takes no options');
    }
  }

  apply(compiler) {
    const { webpack } = compiler;
    if (!webpack || !webpack.sources || !webpack.Compilation) {
      throw new Error('matrix-authmedia/webpack needs webpack 5');
    }
    // A global entry (no name): webpack adds it to every entry chunk.
    new webpack.EntryPlugin(compiler.context, path.join(__dirname, 'webpack-runtime.js'), { name: undefined }).apply(compiler);
    compiler.hooks.thisCompilation.tap(NAME, (compilation) => {
      compilation.hooks.processAssets.tap({ name: NAME, stage: webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        for (const file of WORKER_FILES) {
          const source = path.join(__dirname, 'sw', file);
          let bytes;
          try {
            bytes = readFileSync(source);
          } catch (e) {
            compilation.errors.push(new webpack.WebpackError(`matrix-authmedia/webpack: ${source} is missing (a broken install of matrix-authmedia?): ${e.message}`));
            continue;
          }
          // `minimized`: the worker ships as built (its glue is embedded); a minifier's pass over
          // it would only cost build time and change what was tested.
          compilation.emitAsset(file, new webpack.sources.RawSource(bytes), { minimized: true });
        }
      });
    });
  }
}

module.exports = AuthMediaWebpackPlugin;
module.exports.AuthMediaWebpackPlugin = AuthMediaWebpackPlugin;
module.exports.WORKER_FILES = WORKER_FILES;
