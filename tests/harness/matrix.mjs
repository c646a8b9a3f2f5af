// Moved to support/matrix.mjs (shared with the demo and the benchmarks); this path stays for the tests' imports.
export * from '../../support/matrix.mjs';
