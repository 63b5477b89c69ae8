#!/usr/bin/env python3
"""
Twilio's reference decrypt script for Conversational Intelligence content
(from "Encrypting transcripts and operator results", Decrypting step 3),
adapted for tests: the values it asks you to edit are arguments, the
private key may be passphrase-protected, and the plaintext goes to stdout
instead of a file next to the ciphertext (no plaintext on disk).

The cryptographic steps are Twilio's, unchanged: RSA-OAEP (SHA-256,
MGF1-SHA-256, no label) unwraps the AES key; AES-GCM with the last 16 bytes
of the file as the tag decrypts the payload.

usage: twilio_decrypt.py --encrypted-key B64 --iv B64 --private-key PEM
                         [--passphrase-file FILE] CIPHERTEXT_FILE
"""

import argparse
import base64
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.backends import default_backend


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encrypted-key", required=True)
    ap.add_argument("--iv", required=True)
    ap.add_argument("--private-key", required=True)
    ap.add_argument("--passphrase-file")
    ap.add_argument("ciphertext_file")
    args = ap.parse_args()

    # Decode base64 values
    encrypted_key = base64.b64decode(args.encrypted_key)
    iv = base64.b64decode(args.iv)

    # Read encrypted file
    cipher_plus_tag = Path(args.ciphertext_file).read_bytes()

    # Read private key
    private_key_string = Path(args.private_key).read_text()
    password = None
    if args.passphrase_file:
        password = Path(args.passphrase_file).read_bytes().rstrip(b"\r\n")
    rsa_private_key = serialization.load_pem_private_key(
        private_key_string.encode("utf-8"),
        password=password,
        backend=default_backend(),
    )

    # 2. RSA-decrypt (unwrap) the AES data key
    # RSA/ECB/OAEPWithSHA-256AndMGF1Padding equivalent
    raw_aes_key = rsa_private_key.decrypt(
        encrypted_key,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=None,
        ),
    )

    # 3. AES/GCM decrypt the payload: the tag is the last 16 bytes.
    ciphertext = cipher_plus_tag[:-16]
    tag = cipher_plus_tag[-16:]
    cipher = Cipher(
        algorithms.AES(raw_aes_key),
        modes.GCM(iv, tag),
        backend=default_backend(),
    )
    decryptor = cipher.decryptor()
    plaintext = decryptor.update(ciphertext) + decryptor.finalize()

    # 4. Plaintext to stdout (the original writes CIPHERTEXT_FILE + ".json").
    sys.stdout.buffer.write(plaintext)
    return 0


if __name__ == "__main__":
    sys.exit(main())
