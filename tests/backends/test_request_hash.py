"""The request hash decides which stored answer a request gets back: settings that change the answer must change
the hash, and nothing else may."""

from __future__ import annotations

from app.backends.requests import ModelRequest, request_hash

IDENTITY = {"kind": "openai", "base_url": "http://teacher", "model": "t-1"}


def _hash(**settings) -> str:
    return request_hash(IDENTITY, ModelRequest(backend="teacher", messages=[{"role": "user", "content": "Hi"}],
                                               **settings))


def test_zero_settings_are_settings_not_the_servers_default():
    # A greedy answer (temperature 0) is not the answer to a request that leaves sampling to the server.
    assert _hash(temperature=0) != _hash()
    assert _hash(seed=0) != _hash()
    assert _hash(top_p=0.0) != _hash()
    assert _hash(temperature=0) == _hash(temperature=0.0)


def test_the_same_request_hashes_the_same_whatever_backend_name_or_object():
    one = ModelRequest(backend="a", messages=[{"role": "user", "content": "Hi"}], temperature=0.7, max_tokens=9)
    two = ModelRequest(backend="b", messages=[{"role": "user", "content": "Hi"}], temperature=0.7, max_tokens=9)
    assert request_hash(IDENTITY, one) == request_hash(IDENTITY, two)
    assert request_hash(IDENTITY, one) != request_hash({**IDENTITY, "model": "t-2"}, one)
    assert _hash(salt="1") != _hash(salt="2")
    assert _hash(extra={"presence_penalty": 1}) != _hash()
