"""RFC 6238 TOTP against the RFC's own test vectors (Appendix B), and the verification rules."""

from __future__ import annotations

import pytest

from repository.service import totp

SEEDS = {"sha1": b"12345678901234567890",
         "sha256": b"12345678901234567890123456789012",
         "sha512": b"1234567890123456789012345678901234567890123456789012345678901234"}
#: RFC 6238 Appendix B: time -> (SHA1, SHA256, SHA512), 8 digits
VECTORS = {
    59: ("94287082", "46119246", "90693936"),
    1111111109: ("07081804", "68084774", "25091201"),
    1111111111: ("14050471", "67062674", "99943326"),
    1234567890: ("89005924", "91819424", "93441116"),
    2000000000: ("69279037", "90698825", "38618901"),
    20000000000: ("65353130", "77737706", "47863826"),
}


@pytest.mark.parametrize("at", sorted(VECTORS))
def test_rfc6238_vectors(at: int) -> None:
    for algorithm, expected in zip(("sha1", "sha256", "sha512"), VECTORS[at]):
        assert totp.totp(SEEDS[algorithm], at, digits=8, algorithm=algorithm) == expected


def test_rfc4226_hotp_vectors() -> None:
    # RFC 4226 Appendix D, counters 0-9
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922",
                "162583", "399871", "520489"]
    assert [totp.hotp(SEEDS["sha1"], c) for c in range(10)] == expected


def test_verify_window_and_replay() -> None:
    import base64

    secret = base64.b32encode(SEEDS["sha1"]).decode()
    at = 1111111111
    now = totp.totp(SEEDS["sha1"], at)
    step = totp.verify(secret, now, at=at)
    assert step == at // 30
    # one step of clock drift either way is accepted, two are not
    assert totp.verify(secret, totp.totp(SEEDS["sha1"], at - 30), at=at) == step - 1
    assert totp.verify(secret, totp.totp(SEEDS["sha1"], at - 60), at=at) is None
    # a code is never accepted twice
    assert totp.verify(secret, now, at=at, last_step=step) is None
    assert totp.verify(secret, "12345", at=at) is None and totp.verify(secret, "abcdef", at=at) is None


def test_new_secret_and_uri() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret.isalnum()
    uri = totp.provisioning_uri(secret, account="dr.sato")
    assert uri.startswith("otpauth://totp/ipdrepo:dr.sato?secret=" + secret)
