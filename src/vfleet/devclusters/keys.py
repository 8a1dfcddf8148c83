"""The service-account signing key of a loopback cluster: RSA, generated in plain Python."""

from __future__ import annotations

import base64
import math
import secrets


def rsa_private_key_pem(bits: int = 2048) -> str:
    """A new RSA private key as PKCS#1 PEM, in plain Python.

    Neither `cryptography` nor an `openssl` binary can be counted on (slim images lack the latter);
    the key only signs service-account tokens of a throwaway loopback cluster. d is computed modulo
    lcm(p-1, q-1), as Go and OpenSSL do, so Go's key validation accepts it.
    """
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits - bits // 2)
        n = p * q
        lam = math.lcm(p - 1, q - 1)
        if p != q and n.bit_length() == bits and math.gcd(e, lam) == 1:
            break
    d = pow(e, -1, lam)
    numbers = [0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)]
    der = _der(0x30, b"".join(_der(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big")) for v in numbers))
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----", ""])


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % k for k in range(2, math.isqrt(p) + 1))]


def _prime(bits: int) -> int:
    while True:
        # The top two bits set make p*q exactly 2*bits long; the low bit makes it odd.
        candidate = secrets.randbits(bits) | (0b11 << (bits - 2)) | 1
        if all(candidate % p for p in _SMALL_PRIMES) and _probably_prime(candidate):
            return candidate


def _probably_prime(n: int, rounds: int = 24) -> bool:
    """Miller-Rabin with random bases."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True

