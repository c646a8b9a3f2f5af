#!/usr/bin/env python3
"""Regenerates the "generated" cases of attachment_crypto.json with an independent
implementation: the `openssl enc -aes-256-ctr` command and Python's hashlib (not our Rust).

    python3 crates/core/tests/vectors/attachment_gen.py > /tmp/gen.json

The output is the JSON list pasted into attachment_crypto.json ("cases" after the spec
vector) and "big". Deterministic: fixed keys/ivs, plaintext from `pattern(n)`.
OpenSSL's CTR mode increments the whole 128-bit counter block big-endian, as the spec does.
"""
import base64
import hashlib
import json
import subprocess


def pattern(n):
    """Plaintext byte i = (i * 31 + (i >> 8) * 7) mod 256 (the Rust test rebuilds it)."""
    return bytes(((i * 31 + (i >> 8) * 7) & 0xFF) for i in range(n))


def aes_ctr(key, iv, data):
    return subprocess.run(
        ["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", key.hex(), "-iv", iv.hex()],
        input=data, capture_output=True, check=True).stdout


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def case(n, key, iv, rule, with_bytes=True):
    plain = pattern(n)
    ct = aes_ctr(key, iv, plain)
    c = {
        "rule": rule,
        "size": n,
        "k": b64url(key),
        "iv": b64(iv),
        "sha256": b64(hashlib.sha256(ct).digest()),
        "plaintext_sha256": b64(hashlib.sha256(plain).digest()),
    }
    if with_bytes:
        c["plaintext_hex"] = plain.hex()
        c["ciphertext_hex"] = ct.hex()
    return c


key = bytes(range(32))
iv = bytes([0xA5, 0x5A, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]) + bytes(8)
out = {"cases": [], "big": []}
for n in (0, 1, 15, 16, 17, 31, 32, 33, 64, 100):
    out["cases"].append(case(n, key, iv, f"{n} bytes, spec-style iv (8 random + 8 zero bytes)"))
# A counter block whose low 64 bits overflow inside the file: the carry goes into the high half.
carry_iv = bytes([0x11] * 8) + bytes([0xFF] * 7) + bytes([0xFE])
out["cases"].append(case(64, key, carry_iv, "64 bytes, low 64 counter bits overflow: 128-bit carry"))
# All-ones counter block: wraps to zero after the first block (modulo 2^128).
out["cases"].append(case(48, bytes([0xC3] * 32), bytes([0xFF] * 16), "48 bytes, counter wraps at 2^128"))
for n, rule in ((1 << 20, "1 MiB"), (10 << 20, "10 MiB")):
    out["big"].append(case(n, key, iv, f"{rule}, generated in the test", with_bytes=False))
print(json.dumps(out, indent=1))
