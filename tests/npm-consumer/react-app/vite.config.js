// A React 19 app in StrictMode with two components, each with its own AuthMedia, and the package
// from this checkout (npm/, built by scripts/build.sh), for tests/e2e/react-strictmode.test.mjs;
// vite and react come from tests/node_modules. The output dir is given on the command line.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export default {
  // React's development build: only there does StrictMode run every effect twice.
  mode: 'development',
  define: { 'process.env.NODE_ENV': JSON.stringify('development') },
  logLevel: 'warn',
  resolve: { alias: { 'matrix-authmedia': path.resolve(here, '..', '..', '..', 'npm', 'index.js') } },
  build: { emptyOutDir: true },
};
