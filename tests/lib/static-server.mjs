// Moved to support/static-server.mjs (shared with the demo and the benchmarks); this path stays for the tests' imports.
export * from '../../support/static-server.mjs';
