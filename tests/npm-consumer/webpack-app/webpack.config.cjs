// webpack 5: the package's `new URL('…_bg.wasm', import.meta.url)` becomes an emitted asset.
const path = require('node:path');

module.exports = {
  mode: 'production',
  context: __dirname,
  entry: './src/index.js',
  output: { path: path.join(__dirname, 'dist'), filename: 'main.js', clean: true },
  performance: { hints: false },
};
