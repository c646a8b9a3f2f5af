/**
 * The hand-written worker entry script (`sw/authmedia-sw.js`) speaks the protocol the Rust side
 * defines once (`crates/js/src/protocol.rs`, the core's `ClientCode` in `crates/core/src/code.rs`):
 * the route codes it compares `route()`'s answer with, the prefix of the messages it hands to the
 * wasm, the header and the client codes of its own error answers. Source checks, no browser: a
 * constant changed on one side only fails here (the e2e suites would show it only as a behaviour).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../support/synapse.mjs';

const read = (...p) => readFileSync(path.join(REPO_ROOT, ...p), 'utf8');
const protocol = read('crates', 'js', 'src', 'protocol.rs');
const entry = read('sw', 'authmedia-sw.js');
const codes = read('crates', 'core', 'src', 'code.rs');

test('the entry script\'s route codes are the protocol\'s', () => {
  const rust = Object.fromEntries([...protocol.matchAll(/pub const (ROUTE_[A-Z_]+): u8 = (\d+);/g)].map((m) => [m[1], Number(m[2])]));
  const js = Object.fromEntries([...entry.matchAll(/const (ROUTE_[A-Z_]+) = (\d+);/g)].map((m) => [m[1], Number(m[2])]));
  assert.equal(Object.keys(rust).length, 4, JSON.stringify(rust));
  assert.deepEqual(js, rust);
});

test('the entry script hands the protocol\'s messages to the wasm (their prefix) and uses its error header', () => {
  const prefix = /pub const PREFIX: &str = "([^"]+)";/.exec(protocol)?.[1];
  assert.equal(prefix, 'authmedia:');
  assert.ok(entry.includes(`data.type.startsWith('${prefix}')`), 'the message filter uses another prefix');
  const header = /pub const CODE_HEADER: &str = "([^"]+)";/.exec(protocol)?.[1];
  assert.ok(header && entry.includes(`'${header}': authmediaCode`), `the entry script's error answers lack the ${header} header`);
  const types = [...protocol.matchAll(/pub const [A-Z_]+: &str = "(authmedia:[a-z-]+)";/g)].map((m) => m[1]);
  assert.ok(types.length >= 11 && types.every((t) => t.startsWith(prefix)), JSON.stringify(types));
});

test('the client codes of the entry script\'s own error answers are ClientCode codes', () => {
  const known = new Set([...codes.matchAll(/Self::[A-Za-z]+ => "([a-z_]+)",/g)].map((m) => m[1]));
  assert.ok(known.has('wasm_unavailable') && known.has('internal') && known.size >= 24, [...known].join(','));
  const used = [...entry.matchAll(/errorResponse\(\s*\d+,\s*'[A-Z_]+',\s*'([a-z_]+)'/g)].map((m) => m[1]);
  assert.ok(used.length >= 2, 'no errorResponse call found');
  for (const code of used) assert.ok(known.has(code), `${code} is not a ClientCode`);
});
