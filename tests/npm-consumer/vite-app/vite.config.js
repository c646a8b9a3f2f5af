// Plain object (no import of 'vite': tests/ provides the CLI). Two pages: the quick start and the
// matrix-js-sdk adapter.
export default {
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rollupOptions: { input: { main: 'index.html', sdk: 'sdk.html' } },
  },
};
