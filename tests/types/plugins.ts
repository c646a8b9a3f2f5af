// Compile-only usage of the bundler plugins' types (tests/node_modules/.bin/tsc -p tests/types).
import authmedia, { WORKER_FILES, WORKER_META_NAME } from 'matrix-authmedia/vite';
import AuthMediaPlugin from 'matrix-authmedia/webpack';
import type { Plugin, UserConfig } from 'vite';

const plugin: Plugin = authmedia();
export const viteConfig: UserConfig = { base: '/app/', plugins: [authmedia()] };
export const meta: 'matrix-authmedia-worker' = WORKER_META_NAME;
export const files: string = WORKER_FILES['authmedia-sw.js'];
// @ts-expect-error the Vite plugin takes no options
authmedia({ workerUrl: '/x.js' });

export const webpackPlugins = [new AuthMediaPlugin(), new AuthMediaPlugin.AuthMediaWebpackPlugin()];
export const emitted: readonly string[] = AuthMediaPlugin.WORKER_FILES;
// @ts-expect-error the webpack plugin takes no options
new AuthMediaPlugin({ publicPath: '/app/' });

export { plugin };
