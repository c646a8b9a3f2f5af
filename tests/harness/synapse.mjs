// Moved to support/synapse.mjs (shared with the demo and the benchmarks); this path stays for the tests' imports.
export * from '../../support/synapse.mjs';
