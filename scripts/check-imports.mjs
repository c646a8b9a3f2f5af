#!/usr/bin/env node
/**
 * Fails on an import cycle between the modules of a crate: reads every `crate::<module>` path
 * (in `use` lines and in expressions; `super::<module>` in files directly under `src`) of each `crates/<crate>/src/*.rs` file and checks that the
 * module graph is acyclic. Test-only modules (`browser_tests`, and `#[cfg(test)] mod tests` blocks,
 * which are cut off at their start) are leaves and are not counted. Also checks the crate layering:
 * the worker crate (`authmedia-sw`) and the page crate (`authmedia-web`) never depend on each
 * other, and `demo/` refers neither to `tests/` nor to the worker's build output `sw/dist`.
 *
 *   node scripts/check-imports.mjs            every crate under crates/
 *   node scripts/check-imports.mjs --print    also print each crate's module graph
 *   --known-debt=web                           report that crate's cycles without failing (a crate
 *                                              not yet split; printed as KNOWN DEBT every run)
 *
 * Exit 1 with the cycle (`a → b → a`) when one exists. A self-test runs first: a made-up graph
 * with a cycle must be reported, so the checker cannot pass vacuously.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const print = process.argv.includes('--print');
const debt = new Set(
  process.argv
    .filter((a) => a.startsWith('--known-debt='))
    .flatMap((a) => a.slice('--known-debt='.length).split(','))
    .filter(Boolean),
);

/** Top-level module of a source file under `src` (`foo.rs`, `foo/mod.rs` and `foo/bar.rs` → `foo`:
 * a directory module's files all belong to it); `lib`/`main` are the root. */
function moduleOf(src, file) {
  const first = path.relative(src, file).split(path.sep)[0];
  return first.endsWith('.rs') ? first.slice(0, -3) : first;
}

/** The source without its `#[cfg(test)]` tail (unit tests may reach anywhere through `super::*`). */
function withoutTests(src) {
  const at = src.search(/#\[cfg\(test\)\]\s*(#\[[^\]]*\]\s*)*mod tests\b/);
  return at < 0 ? src : src.slice(0, at);
}

/** The crate-local modules a source text refers to (`crate::x`, `use crate::{x, y::z}`; in a file
 * directly under `src`, `super::` is the crate root, so `super::x` counts as `crate::x`). */
function referenced(src, modules, topLevel) {
  const found = new Set();
  let code = src.replace(/\/\/[^\n]*/g, '');
  if (topLevel) code = code.replace(/\bsuper::/g, 'crate::');
  for (const m of code.matchAll(/crate::([a-z_][a-z0-9_]*)/g)) found.add(m[1]);
  for (const m of code.matchAll(/use\s+crate::\{([^}]*)\}/g)) {
    for (const part of m[1].split(',')) {
      const name = part.trim().split('::')[0].trim();
      if (name) found.add(name);
    }
  }
  return [...found].filter((name) => modules.has(name));
}

/** The first cycle of `graph` (Map name → names) as a list ending where it started, or null. */
export function findCycle(graph) {
  const state = new Map();
  const stack = [];
  const visit = (node) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return null;
}

function crateGraph(dir) {
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.rs')) files.push(p);
    }
  };
  walk(dir);
  const modules = new Set(files.map((f) => moduleOf(dir, f)).filter((m) => !['lib', 'main'].includes(m)));
  const graph = new Map();
  for (const file of files) {
    const from = moduleOf(dir, file);
    if (['lib', 'main', 'browser_tests'].includes(from) || from === 'tests') continue;
    const topLevel = path.dirname(file) === dir;
    const refs = referenced(withoutTests(readFileSync(file, 'utf8')), modules, topLevel).filter((m) => m !== from && m !== 'browser_tests');
    // A directory module's files all belong to it.
    graph.set(from, [...new Set([...(graph.get(from) ?? []), ...refs])].sort());
  }
  return graph;
}

// Self-test: the checker must see a cycle where there is one.
const selfTest = findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]));
if (!selfTest || selfTest.join(' → ') !== 'a → b → c → a') {
  console.error(`check-imports: self-test failed (got ${selfTest})`);
  process.exit(2);
}

let failed = false;
const cratesDir = path.join(ROOT, 'crates');
for (const crate of readdirSync(cratesDir).sort()) {
  const src = path.join(cratesDir, crate, 'src');
  if (!existsSync(src)) continue;
  const graph = crateGraph(src);
  if (print) {
    console.log(`${crate}:`);
    for (const [from, to] of [...graph.entries()].sort()) console.log(`  ${from} → ${to.join(', ') || '∅'}`);
  }
  const cycle = findCycle(graph);
  if (cycle && debt.has(crate)) {
    console.log(`check-imports: KNOWN DEBT, not failing: import cycle in crates/${crate}: ${cycle.join(' → ')}`);
  } else if (cycle) {
    console.error(`check-imports: import cycle in crates/${crate}: ${cycle.join(' → ')}`);
    failed = true;
  } else {
    console.log(`check-imports: crates/${crate}: ${graph.size} modules, no import cycle`);
  }
}

// Layering: the two wasm adapters never depend on each other.
for (const [a, b] of [['sw', 'web'], ['web', 'sw']]) {
  const manifest = readFileSync(path.join(cratesDir, a, 'Cargo.toml'), 'utf8');
  if (new RegExp(`^authmedia-${b}\\s*=`, 'm').test(manifest)) {
    console.error(`check-imports: crates/${a} depends on authmedia-${b}: the worker and page crates must stay independent`);
    failed = true;
  }
}
// The demo uses the package like any client: it never imports the tests or the build's worker
// output (its server helpers live in support/, shared with the tests and the benchmarks).
const demoDir = path.join(ROOT, 'demo');
for (const name of existsSync(demoDir) ? readdirSync(demoDir).sort() : []) {
  if (!/\.(m?js|html)$/.test(name)) continue;
  const text = readFileSync(path.join(demoDir, name), 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
  for (const [pattern, what] of [
    [/['"`](\.\.\/)+tests\//, 'the tests (tests/)'],
    [/['"`][^'"`]*\bsw\/dist\b/, "the worker's build output (sw/dist)"],
  ]) {
    if (pattern.test(text)) {
      console.error(`check-imports: demo/${name} refers to ${what}: the demo must use the npm package and support/`);
      failed = true;
    }
  }
}
if (!failed) console.log('check-imports: demo/ uses neither tests/ nor sw/dist');
process.exit(failed ? 1 : 0);
