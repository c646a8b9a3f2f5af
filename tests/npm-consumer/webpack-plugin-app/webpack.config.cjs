// webpack 5 with matrix-authmedia/webpack: the worker files are emitted next to the bundle and the
// SDK learns their URL from the bundle's public path ('auto': wherever main.js is served from).
const path = require('node:path');
const AuthMediaPlugin = require('matrix-authmedia/webpack');

module.exports = {
  mode: 'production',
  context: __dirname,
  entry: './src/index.js',
  output: { path: path.join(__dirname, 'dist'), filename: 'main.js', publicPath: 'auto', clean: true },
  performance: { hints: false },
  plugins: [new AuthMediaPlugin()],
};
