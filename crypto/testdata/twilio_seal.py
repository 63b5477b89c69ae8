#!/usr/bin/env python3
"""
Seals stdin the way Twilio seals Conversational Intelligence content, with
Python's cryptography package: a random content key (32 bytes by default)
and IV (12 bytes by default), AES-GCM with the 16-byte tag appended to the
ciphertext, the content key wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256,
no label) under the given public key.

Prints one JSON object: {"key": B64, "iv": B64, "body": B64}, where key and
iv are what the object store's x-amz-meta-x-amz-key and x-amz-meta-x-amz-iv
headers carry and body is the object (base64 only to fit in JSON).

usage: twilio_seal.py [--key-size 16|24|32] [--iv-size N] PUBLIC_KEY_PEM < plaintext
"""

import argparse
import base64
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--key-size", type=int, default=32)
    ap.add_argument("--iv-size", type=int, default=12)
    ap.add_argument("public_key")
    args = ap.parse_args()

    public_key = serialization.load_pem_public_key(Path(args.public_key).read_bytes())
    plaintext = sys.stdin.buffer.read()

    cek = os.urandom(args.key_size)
    iv = os.urandom(args.iv_size)
    body = AESGCM(cek).encrypt(iv, plaintext, None)  # ciphertext || tag
    wrapped = public_key.encrypt(
        cek,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=None,
        ),
    )
    b64 = lambda b: base64.b64encode(b).decode("ascii")
    json.dump({"key": b64(wrapped), "iv": b64(iv), "body": b64(body)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
