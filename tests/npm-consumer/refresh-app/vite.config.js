// A page with the real matrix-js-sdk and the package from this checkout (npm/, built by
// scripts/build.sh), for tests/e2e/token-refresh.test.mjs; vite and matrix-js-sdk come from
// tests/node_modules. The output dir is given on the command line.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export default {
  logLevel: 'warn',
  resolve: { alias: { 'matrix-authmedia': path.resolve(here, '..', '..', '..', 'npm', 'index.js') } },
  build: { emptyOutDir: true },
};
