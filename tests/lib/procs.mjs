// Moved to support/procs.mjs (shared with the demo and the benchmarks); this path stays for the tests' imports.
export * from '../../support/procs.mjs';
