"""`tuneloop backend add|list|test|delete` on a committed database, against the scripted server."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli
from tests.support.openai_server import ScriptedServer


def _run(*args: str):
    return CliRunner().invoke(cli, ["backend", *args])


def test_add_list_test_delete(live, monkeypatch):
    monkeypatch.setenv("TEACHER_KEY", "sk-cli-test-0123456789")
    with ScriptedServer() as server:
        added = _run("add", "teacher", "--base-url", server.url, "--model", "llama-3-70b", "--api-key-env",
                     "TEACHER_KEY", "--rpm", "60", "--max-concurrency", "4")
        assert added.exit_code == 0, added.output
        assert "added teacher  [openai]" in added.output and "4 at once, rpm 60" in added.output

        listed = _run("list")
        assert "key from $TEACHER_KEY" in listed.output and "never tested" in listed.output

        tested = _run("test", "teacher")
        assert tested.exit_code == 0, tested.output
        assert "teacher: ok in" in tested.output and "answer 0 to: Reply with the word OK." in tested.output
        assert "chat yes, completions yes, logprobs no, json_schema no" in tested.output
        assert server.seen[0].headers["authorization"] == "Bearer sk-cli-test-0123456789"
    assert "last test ok" in _run("list").output
    assert "sk-cli-test" not in added.output + listed.output + tested.output

    down = _run("test", "teacher")  # the server has gone
    assert down.exit_code == 1 and "could not be reached" in down.output

    for args, words in ((("add", "Bad Name", "--base-url", "http://x/v1", "--model", "m"), "name: Name must be a slug"),
                        (("add", "teacher", "--base-url", "http://x/v1", "--model", "m"), "exists already"),
                        (("add", "other", "--base-url", "http://x/v1", "--model", "m", "--rpm", "0"),
                         "limits.rpm: Requests per minute must be between"),
                        (("add", "other", "--base-url", "http://x/v1", "--model", "m", "--api-key-env",
                          "sk-abc123"), "never the key itself"),
                        (("delete", "nobody"), "does not exist")):
        result = _run(*args)
        assert result.exit_code == 1 and words in result.output, (args, result.output)

    deleted = _run("delete", "teacher")
    assert deleted.exit_code == 0 and "deleted backend teacher" in deleted.output
    assert "no backend yet" in _run("list").output
