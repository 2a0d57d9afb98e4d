"""Keys, tokens, a local JWKS server and an app with auth, for the auth tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from tests.unit.api.conftest import Node

from dictamesh.auth import Authenticator
from dictamesh.core.settings import AuthSettings

SECRET = "dev-secret-for-tests-0123456789-abcdef"  # 38 bytes: above the 32-byte minimum
ISSUER = "https://idp.test/"
AUDIENCE = "dictamesh"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk["alg"] = "RS256"
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk["alg"] = "ES256"
    return {**jwk, "kid": kid, "use": "sig"}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        # longer than any suite run: tokens minted at collection (module constants) stay
        # valid until their test runs; expiry tests set exp themselves
        "exp": now + 3 * 3600,
        "roles": ["reader"],
        "tenant_id": "acme",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs_token(secret: str = SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def signed_token(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, **overrides: Any
) -> str:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Mapping[str, Any], payload: Mapping[str, Any], hmac_key: bytes | None) -> str:
    """A token built by hand (PyJWT refuses to make the malicious ones)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    sig = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def settings(**overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "mode": "required",
        "jwt_secret": SECRET,
        "issuer": ISSUER,
        "audience": [AUDIENCE],
        "leeway_seconds": 5,
    }
    values.update(overrides)
    return AuthSettings(**values)


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 (a real HTTP server: PyJWKClient uses urllib)."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.broken = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                if outer.broken:
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    @contextmanager
    def running(self) -> Iterator[JwksServer]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)


def app_node(auth: AuthSettings | Authenticator, **overrides: Any) -> Node:
    return Node(auth=auth, **overrides)


def client(node: Node) -> httpx.AsyncClient:
    return node.client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
