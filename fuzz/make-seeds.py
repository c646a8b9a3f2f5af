#!/usr/bin/env python3
"""Regenerates the committed seed corpora fuzz/corpus/<target>/ from the core's JSON vectors
(crates/core/tests/vectors/*.json). Files are named by the SHA-1 of their content, as libFuzzer
names its own, so a seed is never stored twice. Idempotent; only adds files.

    python3 fuzz/make-seeds.py
"""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "crates/core/tests/vectors"
CORPUS = ROOT / "fuzz/corpus"
MAX_SEED = 1100  # bytes: keeps the 255-character server names, drops the megabyte ones


def cases(name):
    return json.loads((VECTORS / f"{name}.json").read_text())["cases"]


def expand(case, s):
    rep = case.get("repeat")
    return s.replace("{R}", rep["text"] * rep["times"]) if rep else s


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    for c in cases("mxc"):
        s = expand(c, c["input"])
        write("mxc_parse", s)
        if c.get("server_name") is not None:
            write("mxc_parse", expand(c, c["server_name"]))
        if c.get("media_id") is not None:
            write("mxc_parse", expand(c, c["media_id"]))
        write("url_build", s)
    for c in cases("homeserver"):
        write("homeserver", c["input"])
    for c in cases("classify"):
        write("classify", c["url"])
        if c.get("upgraded"):
            write("classify", c["upgraded"])
        for hs in c.get("homeservers", []):
            write("homeserver", hs)
    for c in cases("urls"):
        write("classify", c["url"])
        write("homeserver", c["homeserver"])
        write("url_build", c["mxc"] + "\0" + json.dumps(c["request"]))
    for c in cases("versions"):
        if "raw" in c:
            write("versions", c["raw"])
        else:
            write("versions", json.dumps(c["json"], separators=(",", ":"), ensure_ascii=False))
    for c in cases("errors"):
        body = c.get("body") or ""
        write("matrix_error", f"{c['status']}\n{c.get('retry_after') or ''}\n{body}")

    # attachment: `<EncryptedFile JSON> NUL <ciphertext>`; the crypto vectors become files whose
    # ciphertext matches (so decryption succeeds), the parsing vectors come without ciphertext.
    attachment_files = VECTORS / "attachment_files.json"
    if attachment_files.exists():
        for c in cases("attachment_files"):
            text = c["raw"] if "raw" in c else json.dumps(c["json"], separators=(",", ":"))
            write("attachment", text)
        for c in cases("attachment_crypto"):
            if "ciphertext_hex" not in c:
                continue
            f = {"v": "v2", "url": "mxc://example.org/abc",
                 "key": {"kty": "oct", "key_ops": ["encrypt", "decrypt"], "alg": "A256CTR",
                         "k": c["k"], "ext": True},
                 "iv": c["iv"], "hashes": {"sha256": c["sha256"]}}
            text = json.dumps(f, separators=(",", ":")).encode()
            write("attachment", text + b"\0" + bytes.fromhex(c["ciphertext_hex"]))


if __name__ == "__main__":
    main()
