/**
 * The core's `token_fingerprint` in Node (32-bit FNV-1a over the UTF-8 bytes), so that tests can
 * check which token a worker's `authmedia:need-token` says was refused.
 *
 * API:
 *   fnv1a32(text) → number   an unsigned 32-bit integer
 */
export function fnv1a32(text) {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash;
}
