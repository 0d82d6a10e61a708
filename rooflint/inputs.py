"""Reading input files, strictly and within bounds: the one path every spec, budget and saved
run comes in by.

- Only a regular file is read (a FIFO, a device such as /dev/zero, a folder are refused before
  anything is read, so nothing blocks or reads forever), and at most `limit` bytes of it.
- Text is UTF-8; a byte that is not is reported with its offset.
- YAML: anchors and aliases are refused (an alias bomb expands on use, not on parsing), as are
  duplicate keys, nesting deeper than MAX_DEPTH and more than MAX_NODES values. JSON: the same
  limits, and NaN / Infinity (which Python's json accepts) are refused.
- Integers longer than MAX_DIGITS digits are refused (Python refuses 4,301 digits with a
  ValueError deep inside the parser; nothing rooflint reads needs more than a handful).

Every failure is a SpecError naming the file (and where known the line), so the CLI prints one
line and exits 2.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from rooflint.errors import SpecError

MAX_INPUT_BYTES = 16 * 2**20  # a spec is a few KiB, a saved measure run a few MiB
MAX_DEPTH = 32
MAX_NODES = 1_000_000
MAX_DIGITS = 40


def read_text(path: str | os.PathLike, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes."""
    where = str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SpecError(where, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(where, None, f"not a regular file ({_kind(info.st_mode)}); give the path of a file")
        if info.st_size > limit:
            raise SpecError(where, None, f"too large: {info.st_size:,} bytes (at most {limit:,})")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew while being read
                raise SpecError(where, None, f"too large: more than {limit:,} bytes")
    except OSError as exc:
        raise SpecError(where, None, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(where, None, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def read_mapping(path: str | os.PathLike, limit: int = MAX_INPUT_BYTES) -> dict[str, Any]:
    """A YAML or JSON file (by its suffix) parsed into a mapping, within the limits above."""
    where = str(path)
    text = read_text(path, limit)
    data = parse_json(text, where) if Path(where).suffix == ".json" else parse_yaml(text, where)
    if not isinstance(data, dict):
        raise SpecError(where, None, f"expected a mapping of fields, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------- JSON

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number rooflint accepts")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def parse_json(text: str, where: str) -> Any:
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_int=_int, parse_float=_float,
                          object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(where, None, f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise SpecError(where, None, "malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise SpecError(where, None, f"refused JSON: {exc}") from None
    _check_tree(data, where)
    return data


def _check_tree(data: Any, where: str) -> None:
    """Depth and size of parsed data, iteratively (no recursion to exhaust)."""
    stack, count = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            raise SpecError(where, None, f"refused: nested deeper than {MAX_DEPTH} levels" if depth > MAX_DEPTH
                            else f"refused: more than {MAX_NODES:,} values")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


# ---------------------------------------------------------------- YAML

def parse_yaml(text: str, where: str) -> Any:
    import yaml  # only here: yaml costs start-up time and only file loading needs it

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, where, yaml)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(where, None, f"malformed YAML{line}: {problem}") from None
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. a timestamp out of range
        raise SpecError(where, None, f"refused YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    finally:
        loader.dispose()


def _check_nodes(root: Any, where: str, yaml: Any) -> None:
    """Walk the composed nodes before anything is built from them: an alias shows as a node met
    twice; keys are scalars met once per mapping; integers are short."""
    seen: set[int] = set()
    stack, count = [(root, 1)], 0
    while stack:
        node, depth = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in seen:
            raise SpecError(where, None, f"refused YAML at line {line}: anchors and aliases (&name, *name) "
                            "are not accepted; write the value out")
        seen.add(id(node))
        count += 1
        if depth > MAX_DEPTH:
            raise SpecError(where, None, f"refused YAML at line {line}: nested deeper than {MAX_DEPTH} levels")
        if count > MAX_NODES:
            raise SpecError(where, None, f"refused YAML: more than {MAX_NODES:,} values")
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    raise SpecError(where, None, f"refused YAML at line {key.start_mark.line + 1}: "
                                    "a key must be plain text")
                if key.value == "<<":
                    raise SpecError(where, None, f"refused YAML at line {key.start_mark.line + 1}: merge keys (<<) "
                                    "are not accepted")
                if key.value in keys:
                    raise SpecError(where, key.value, f"duplicate key at line {key.start_mark.line + 1}")
                keys.add(key.value)
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, depth + 1) for v in node.value)
        elif node.tag == "tag:yaml.org,2002:int" and len(node.value.lstrip("+-").replace("_", "")) > MAX_DIGITS:
            raise SpecError(where, None, f"refused YAML at line {line}: an integer of {len(node.value)} digits")
        elif node.tag == "tag:yaml.org,2002:float" and not _finite_yaml_float(node.value):
            raise SpecError(where, None, f"refused YAML at line {line}: {node.value[:40]} is not a finite number")


def _finite_yaml_float(text: str) -> bool:
    lowered = text.lower().lstrip("+-")
    if lowered in (".inf", ".nan"):
        return False
    try:
        return math.isfinite(float(text.replace("_", "")))
    except ValueError:
        return True  # a sexagesimal or other YAML 1.1 form: its constructor decides
