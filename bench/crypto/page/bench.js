// Browser half of bench/crypto: authmedia wasm (streaming verify+decrypt) vs WebCrypto one-shot
// (crypto.subtle.digest SHA-256 + AES-CTR decrypt, as most web clients do), same page, same bytes.
// Driven by run.mjs through window.bench*.
const wasmDir = new URLSearchParams(location.search).get('pkg') ?? 'pkg';
const wasm = await import(`../${wasmDir}/authmedia_crypto_bench.js`);
await wasm.default();

const CHUNK = 1 << 16; // what a fetch body stream typically delivers

function b64(bytes, url) {
  let s = btoa(String.fromCharCode(...bytes)).replace(/=+$/, '');
  return url ? s.replace(/\+/g, '-').replace(/\//g, '_') : s;
}

function fromB64(s) {
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(std + '='.repeat((4 - (std.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** Random plaintext, encrypted with WebCrypto: {ct, fileJson, plainDigest}. */
async function makeFile(size) {
  const plain = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) crypto.getRandomValues(plain.subarray(off, off + 65536));
  const keyBytes = crypto.getRandomValues(new Uint8Array(32));
  const iv = new Uint8Array(16);
  crypto.getRandomValues(iv.subarray(0, 8));
  const key = await crypto.subtle.importKey('raw', keyBytes, 'AES-CTR', true, ['encrypt', 'decrypt']);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CTR', counter: iv, length: 64 }, key, plain));
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', ct));
  const file = {
    v: 'v2', url: 'mxc://bench.invalid/x', iv: b64(iv), hashes: { sha256: b64(hash) },
    key: { kty: 'oct', alg: 'A256CTR', key_ops: ['encrypt', 'decrypt'], ext: true, k: b64(keyBytes, true) },
  };
  const plainDigest = new Uint8Array(await crypto.subtle.digest('SHA-256', plain));
  return { ct, fileJson: JSON.stringify(file), plainDigest };
}

/** authmedia: chunks pushed into wasm as they would arrive; plaintext copied out once. */
function wasmStream(ct, fileJson) {
  const d = new wasm.StreamDecrypt(fileJson, ct.length);
  for (let off = 0; off < ct.length; off += CHUNK) d.push(ct.subarray(off, off + CHUNK));
  const out = d.finish();
  d.free();
  return out;
}

/** WebCrypto one shot, the common web-client way (JWK import, digest, compare, decrypt). */
async function webcrypto(ct, fileJson) {
  const file = JSON.parse(fileJson);
  const want = fromB64(file.hashes.sha256);
  const got = new Uint8Array(await crypto.subtle.digest('SHA-256', ct));
  if (got.length !== want.length || got.some((b, i) => b !== want[i])) throw new Error('hash_mismatch');
  const key = await crypto.subtle.importKey('jwk', file.key, 'AES-CTR', false, ['decrypt']);
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CTR', counter: fromB64(file.iv), length: 64 }, key, ct));
}

async function same(out, plainDigest) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', out));
  return d.every((b, i) => b === plainDigest[i]);
}

/** Throughput: median MB/s over `runs` after one warm-up, both on the same bytes. */
window.benchThroughput = async (size, runs) => {
  const { ct, fileJson, plainDigest } = await makeFile(size);
  const res = {};
  for (const [name, fn] of [['authmedia-wasm-stream', async () => wasmStream(ct, fileJson)], ['webcrypto-one-shot', () => webcrypto(ct, fileJson)]]) {
    const first = await fn();
    if (!(await same(first, plainDigest))) throw new Error(`${name}: wrong plaintext`);
    const mbs = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await fn();
      mbs.push(size / 1e6 / ((performance.now() - t) / 1000));
    }
    mbs.sort((a, b) => a - b);
    res[name] = { median_mb_s: +mbs[Math.floor(runs / 2)].toFixed(1), min: +mbs[0].toFixed(1), max: +mbs[runs - 1].toFixed(1), runs };
  }
  // Breakdown of the wasm cost (same bytes): SHA-256 alone, AES-256-CTR alone (in place on a copy).
  for (const [name, fn] of [
    ['wasm-sha256-only', () => { if (!wasm.sha256_only(fileJson, ct)) throw new Error('hash'); }],
    ['wasm-aes-ctr-only', () => wasm.aes_ctr_only(fileJson, ct.slice())],
    ['webcrypto-sha256-only', () => crypto.subtle.digest('SHA-256', ct)],
  ]) {
    await fn();
    const mbs = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await fn();
      mbs.push(size / 1e6 / ((performance.now() - t) / 1000));
    }
    mbs.sort((a, b) => a - b);
    res[name] = { median_mb_s: +mbs[Math.floor(runs / 2)].toFixed(1), runs };
  }
  // Tampering is refused by both (sanity: the benchmark times real verification).
  ct[ct.length >> 1] ^= 1;
  const refused = [];
  try { wasmStream(ct, fileJson); } catch (e) { refused.push(String(e.message).split(':')[0]); }
  try { await webcrypto(ct, fileJson); } catch (e) { refused.push(e.message); }
  res.tamper_refused = refused;
  return res;
};

/** Memory: fetch the ciphertext like a client, verify+decrypt with one method, keep the plaintext. */
window.benchMemory = async (mode, size) => {
  const fileJson = await (await fetch(`/file/${size}.json`)).text();
  const before = performance.memory?.usedJSHeapSize ?? null;
  const t = performance.now();
  const res = await fetch(`/ct/${size}`, { cache: 'no-store' });
  let out;
  if (mode === 'wasm') {
    const d = new wasm.StreamDecrypt(fileJson, Number(res.headers.get('content-length') ?? 0));
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      d.push(value);
    }
    out = d.finish();
    d.free();
  } else if (mode === 'webcrypto') {
    out = await webcrypto(new Uint8Array(await res.arrayBuffer()), fileJson);
  } else {
    out = new Uint8Array(0); // baseline: page and wasm loaded, nothing decrypted
  }
  const ms = performance.now() - t;
  window.keep = out; // the plaintext stays alive, as an <img> blob would
  return {
    ms: +ms.toFixed(1),
    bytes: out.length,
    wasm_memory_mb: +(wasm.memory_bytes() / 1e6).toFixed(1),
    js_heap_used_delta_mb: before === null ? null : +((performance.memory.usedJSHeapSize - before) / 1e6).toFixed(1),
  };
};

document.getElementById('status').textContent = 'ready';
window.benchReady = true;
