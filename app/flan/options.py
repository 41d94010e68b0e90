"""Opt mode: answer options under a header and a bullet style picked per row, as in the Flan collection.

Varying the header and bullets keeps a model from tying the task to one layout. In NoOpt mode the options
are left out (the `options` variable is empty), so the model must produce the answer unprompted.
"""

from __future__ import annotations

import random
import string

HEADERS = ("OPTIONS:", "Choose from:", "Options:", "Choices:", "Available choices:", "Pick your answer from:",
           "Select from:", "Pick from:", "Possible answers:", "Available options:", "Select from the following.",
           "Choose your answer from:", "Answer choices:", "Your options are:")
BULLETS = ("- ", "* ", "+ ", "(a) ", "(A) ", "a. ", "A. ", "1. ", "(1) ", "(i) ", "[-] ", "[+] ")
SETTINGS = ("zs-opt", "fs-opt", "zs-noopt", "fs-noopt")
_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")


def is_opt(setting: str) -> bool:
    return setting.endswith("-opt")


def is_few_shot(setting: str) -> bool:
    return setting.startswith("fs-")


def bullet(style: str, index: int) -> str:
    """The bullet for the index-th option in a style: '(a) ' -> '(c) ' for index 2."""
    if "a" in style or "A" in style:
        letters = string.ascii_lowercase if "a" in style else string.ascii_uppercase
        return style.replace("a" if "a" in style else "A", letters[index % 26])
    if "1" in style:
        return style.replace("1", str(index + 1))
    if "i" in style:
        return style.replace("i", _ROMAN[index] if index < len(_ROMAN) else str(index + 1))
    return style


def pick_style(rng: random.Random) -> tuple[str, str]:
    """(header, bullet style) for one row."""
    return rng.choice(HEADERS), rng.choice(BULLETS)


def options_text(choices: list[str] | None, header: str, style: str) -> str:
    """The options block: the header, then one bulleted choice a line; empty when there are no choices."""
    if not choices:
        return ""
    return header + "\n" + "\n".join(bullet(style, i) + choice for i, choice in enumerate(choices))
