"""swfd's SigV4 signer (``swfd.swf.signing``): botocore's signatures, the key kept a day.

The signatures are compared byte for byte with botocore's ``SigV4Auth`` at
frozen times (midnight UTC included, where the key changes); then swfd's own
clients sign with it against an endpoint that verifies every signature.
"""

from __future__ import annotations

import datetime

import botocore.auth
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from swfd.local.server import LocalEndpoint
from swfd.swf import signing
from swfd.swf.client import USER_AGENT, make_client

KEY_ID, SECRET = "AKIDSIGNTEST", "sign-secret/with+odd=chars"
UTC = datetime.timezone.utc
TIMES = [datetime.datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC),
         datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
         datetime.datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC),
         datetime.datetime(2028, 2, 29, 12, 30, 0, tzinfo=UTC)]


def request(body: bytes, target: str = "PollForActivityTask") -> AWSRequest:
    return AWSRequest(method="POST", url="https://swf.eu-west-1.amazonaws.com/", data=body,
                      headers={"Content-Type": "application/x-amz-json-1.0",
                               "X-Amz-Target": f"SimpleWorkflowService.{target}"})


def sign(cls, credentials, region, when, body, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    req = request(body)
    cls(credentials, "swf", region).add_auth(req)
    return dict(req.headers.items())


@pytest.mark.parametrize("when", TIMES, ids=lambda t: t.isoformat())
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEBYaD-session"])
def test_signatures_equal_botocores(when, region, token, monkeypatch):
    credentials = Credentials(KEY_ID, SECRET, token)
    for body in (b"", b"{}", '{"input":"caf\u00e9 \u2603"}'.encode()):
        theirs = sign(botocore.auth.SigV4Auth, credentials, region, when, body, monkeypatch)
        ours = sign(signing.CachedKeySigV4Auth, credentials, region, when, body, monkeypatch)
        assert ours == theirs
        assert ours["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")


def test_the_key_is_derived_once_a_day_and_per_secret(monkeypatch):
    signing.signing_key.cache_clear()
    old, new = Credentials(KEY_ID, "old-secret"), Credentials(KEY_ID, "rotated-secret")
    for when in (TIMES[0], TIMES[1], TIMES[0]):
        sign(signing.CachedKeySigV4Auth, old, "us-east-1", when, b"{}", monkeypatch)
    assert signing.signing_key.cache_info().misses == 1  # 06:00 and 23:59 are one day
    sign(signing.CachedKeySigV4Auth, old, "us-east-1", TIMES[2], b"{}", monkeypatch)
    assert signing.signing_key.cache_info().misses == 2  # midnight: a new day, a new key
    # Rotated credentials (an instance profile, an assumed role) sign with their own key.
    rotated = sign(signing.CachedKeySigV4Auth, new, "us-east-1", TIMES[2], b"{}", monkeypatch)
    assert signing.signing_key.cache_info().misses == 3
    assert rotated == sign(botocore.auth.SigV4Auth, new, "us-east-1", TIMES[2], b"{}",
                           monkeypatch)


def test_other_signers_are_botocores_choice():
    choose = signing.choose_cached_key_signer
    assert choose(signature_version="v4", context={}) == signing.SIGNER_NAME
    assert choose(signature_version="v4", context={"auth_type": "v4"}) == signing.SIGNER_NAME
    assert choose(signature_version="v4a", context={}) is None
    assert choose(signature_version="v4", context={"auth_type": "none"}) is None
    assert choose(signature_version="v4", context={"unsigned_payload": True}) is None
    assert choose(signature_version=botocore.UNSIGNED, context={}) is None


def test_swfd_clients_sign_with_it_against_a_verifying_endpoint(tmp_path):
    endpoint = LocalEndpoint(database=str(tmp_path / "swf.sqlite3"), poll_timeout=1.0,
                             keys={KEY_ID: SECRET}).start()
    seen: list[str] = []
    try:
        good = make_client(endpoint.url, "us-east-1", read_timeout=10,
                           credentials={"aws_access_key_id": KEY_ID,
                                        "aws_secret_access_key": SECRET})
        good.meta.events.register("before-send.swf",
                                  lambda request, **_: seen.append(request.headers["User-Agent"]))
        signing.signing_key.cache_clear()
        for _ in range(3):
            good.list_domains(registrationStatus="REGISTERED")
        assert signing.signing_key.cache_info().hits >= 2  # swfd's signer did the signing
        agents = {ua.decode() if isinstance(ua, bytes) else ua for ua in seen}
        assert len(agents) == 1 and agents.pop().startswith(USER_AGENT + " Botocore/")
        assert USER_AGENT.startswith("swfd/0") and " Boto3/" in USER_AGENT
        wrong = make_client(endpoint.url, "us-east-1", read_timeout=10,
                            credentials={"aws_access_key_id": KEY_ID,
                                         "aws_secret_access_key": "not-the-secret"})
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            wrong.list_domains(registrationStatus="REGISTERED")
        assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    finally:
        endpoint.stop()
