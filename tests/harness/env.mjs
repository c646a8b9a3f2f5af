// Moved to support/world.mjs (shared with the demo and the benchmarks); this path stays for the tests' imports.
export * from '../../support/world.mjs';
