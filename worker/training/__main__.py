"""`python -m worker.training run|validate|score SPEC.json` and `init-tiny DIR`; events go to stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

from worker.training.errors import OOM_ADVICE, TrainingError, is_oom
from worker.training.events import Emitter, log


def _quiet() -> None:
    """Progress bars and tokenizer fork warnings would clutter stderr; stdout is for events only."""
    # Environment switches rather than library calls: importing the libraries here would slow down every failure.
    for name, value in (("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "warning")):
        os.environ.setdefault(name, value)
    # TRL 1.16 still sets transformers' renamed gradient_checkpointing field; the rename warning says nothing to users.
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)


def _events_stream():
    """Keep the real stdout for events and send everything else written there (library prints) to stderr."""
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events


def _run(path: str, emitter: Emitter) -> int:
    from worker.training.config import RunSpec

    spec = RunSpec.from_file(path)  # before the heavy imports, so a bad spec fails in a second
    from worker.training.runner import run

    return run(spec, emitter)


def _validate(path: str, emitter: Emitter) -> int:
    from worker.training.validate import validate

    report = validate(path)
    emitter.stream.write(json.dumps(report, ensure_ascii=False) + "\n")
    emitter.stream.flush()
    return 0 if report["ok"] else 1


def _score(path: str, emitter: Emitter) -> int:
    from worker.training.config import ScoreSpec

    spec = ScoreSpec.from_file(path)
    from worker.training.reward import score

    return score(spec, emitter)


def _init_tiny(args: argparse.Namespace) -> int:
    from worker.training.tiny import init_tiny, init_tiny_t5

    build = init_tiny_t5 if args.arch == "t5" else init_tiny
    summary = build(Path(args.directory), vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                    layers=args.layers, seed=args.seed)
    print(json.dumps(summary), flush=True)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    from worker.training.config import RunSpec, ScoreSpec
    from worker.training.specs import help_text

    top = argparse.ArgumentParser(prog="python -m worker.training", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, about, cls in (("run", "Train as SPEC.json says; JSON-line events on stdout.", RunSpec),
                             ("validate", "Check a run spec and its data; prints one JSON report.", RunSpec),
                             ("score", "Reward-model scores for a file of responses; JSON-line events.", ScoreSpec)):
        command = sub.add_parser(name, help=about, description=f"{about}\n\nSpec fields:\n{help_text(cls)}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("spec", help="path to the JSON spec")
    tiny = sub.add_parser("init-tiny", help="Write a tiny random model (Llama-style, or T5) and tokenizer to DIR.")
    tiny.add_argument("directory", metavar="DIR")
    tiny.add_argument("--arch", choices=("llama", "t5"), default="llama",
                      help="llama: a causal LM with a chat template; t5: an encoder-decoder (Flan's models)")
    tiny.add_argument("--vocab-size", type=int, default=1024, help="largest vocabulary (the corpus may give fewer)")
    tiny.add_argument("--hidden-size", type=int, default=96, help="hidden size (a multiple of 16)")
    tiny.add_argument("--layers", type=int, default=2, help="decoder layers")
    tiny.add_argument("--seed", type=int, default=0, help="random seed for the weights")
    return top


def main(argv: list[str] | None = None) -> int:
    """Dispatch a command; every failure becomes an `error` event (or report) and a non-zero exit."""
    args = parser().parse_args(argv)
    if args.command == "init-tiny":
        if args.hidden_size < 16 or args.hidden_size % 16 or args.layers < 1 or args.vocab_size < 300:
            print("error: --hidden-size must be a multiple of 16, --layers at least 1, --vocab-size at least 300",
                  file=sys.stderr)
            return 2
        _quiet()
        return _init_tiny(args)
    emitter = Emitter(stream=_events_stream())
    _quiet()
    handler = {"run": _run, "validate": _validate, "score": _score}[args.command]
    try:
        return handler(args.spec, emitter)
    except TrainingError as exc:
        return _fail(emitter, args.command, exc.kind, exc.message)
    except BaseException as exc:  # the last line of defence reports, then exits non-zero
        if isinstance(exc, KeyboardInterrupt | SystemExit) and not is_oom(exc):
            raise
        traceback.print_exc(file=sys.stderr)
        if is_oom(exc):
            return _fail(emitter, args.command, "oom", OOM_ADVICE)
        return _fail(emitter, args.command, "internal", f"{type(exc).__name__}: {exc}")


def _fail(emitter: Emitter, command: str, kind: str, message: str) -> int:
    log(f"error ({kind}): {message}")
    if command == "validate":
        report = {"ok": False, "checks": [{"name": "spec", "ok": False, "detail": message}],
                  "token_stats": None, "sample": None, "error": {"kind": kind, "message": message}}
        emitter.stream.write(json.dumps(report) + "\n")
        emitter.stream.flush()
    else:
        emitter.emit("error", kind=kind, message=message)
    return 1


if __name__ == "__main__":
    sys.exit(main())
