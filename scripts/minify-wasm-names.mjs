// Shortens the import and export names of a wasm-bindgen (`--target web`) build and rewrites its
// glue to match: wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` under the module
// `./<name>_bg.js`, hundreds of them, and the hashes do not compress. binaryen's
// `--minify-imports-and-exports-and-modules` renames them to one or two letters and prints the
// mapping, which this script applies to the glue's import object and its `wasm.<export>` uses.
// It then instantiates the rewritten pair in Node, so a name the glue does not provide fails the
// build (a `LinkError`), not a page.
//
//   node scripts/minify-wasm-names.mjs <wasm-opt> <x_bg.wasm> <x.js> [wasm-opt feature flags…]
//
// Both files are rewritten in place. The glue may be an ES module (`--target web`: the page) or a
// classic script defining a `wasm_bindgen` global (`--target no-modules`: the worker); the check
// loads it the way its target does.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [wasmOpt, wasmPath, gluePath, ...features] = process.argv.slice(2);
if (!wasmOpt || !wasmPath || !gluePath) {
  console.error('usage: minify-wasm-names.mjs <wasm-opt> <x_bg.wasm> <x.js> [feature flags…]');
  process.exit(2);
}
const fail = (msg) => {
  console.error(`minify-wasm-names: ${gluePath}: ${msg}`);
  process.exit(1);
};
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const modulesOf = (bytes) => [...new Set(WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => i.module))];

const before = modulesOf(readFileSync(wasmPath));
if (before.length !== 1) fail(`expected one import module, found ${JSON.stringify(before)}`);
const out = execFileSync(wasmOpt, [...features, '--minify-imports-and-exports-and-modules', wasmPath, '-o', wasmPath], {
  encoding: 'utf8',
  maxBuffer: 16 << 20,
});
let map;
try {
  map = JSON.parse(out);
} catch (e) {
  fail(`wasm-opt printed no mapping (${e.message})`);
}
const after = modulesOf(readFileSync(wasmPath));
if (after.length !== 1) fail(`expected one import module after minifying, found ${JSON.stringify(after)}`);

let glue = readFileSync(gluePath, 'utf8');
const replaceOnce = (re, to, what) => {
  let n = 0;
  glue = glue.replace(re, (...m) => {
    n += 1;
    return to(...m);
  });
  if (n !== 1) fail(`${what}: ${n} matches, expected 1`);
};
// The import object: `"./x_bg.js": import0` and one `name: function(` per import.
replaceOnce(new RegExp(`"${escape(before[0])}":`, 'g'), () => `${JSON.stringify(after[0])}:`, `module ${before[0]}`);
for (const [, from, to] of map.imports) {
  replaceOnce(new RegExp(`^(\\s+)${escape(from)}(: function\\b)`, 'gm'), (_, indent, rest) => `${indent}${to}${rest}`, `import ${from}`);
}
// Exports: the glue reaches every one as `wasm.<name>`.
const exports = new Map(map.exports);
glue = glue.replace(/\bwasm\.([A-Za-z_$][\w$]*)/g, (whole, name) => (exports.has(name) ? `wasm.${exports.get(name)}` : whole));
const unknown = [...glue.matchAll(/\bwasm\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]).filter((n) => ![...exports.values()].includes(n));
if (unknown.length) fail(`uses exports the wasm no longer has: ${[...new Set(unknown)].join(', ')}`);
writeFileSync(gluePath, glue);

// Every import the wasm asks for must now be provided, under its new name.
const noModules = /^let wasm_bindgen = /m.test(glue);
const { initSync } = noModules
  ? new Function(`${glue}\nreturn wasm_bindgen;`)()
  : await import(pathToFileURL(gluePath).href);
try {
  initSync({ module: readFileSync(wasmPath) });
} catch (e) {
  fail(`the rewritten glue does not instantiate the wasm: ${e.message}`);
}
