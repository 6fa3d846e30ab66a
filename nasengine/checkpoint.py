"""Atomic checkpoints that refuse to resume a different run, and never run code.

Written to a temporary file in the same folder and renamed, so an interrupted
write never leaves a truncated checkpoint behind. Read with
``torch.load(weights_only=True)``: a checkpoint holds tensors and plain data only,
so a file whose pickle would call a function is refused, not executed.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import CheckpointError

FORMAT = "nasengine-checkpoint/1"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then move ``tmp`` over ``path`` (same filesystem)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Always valid JSON: NaN/inf become null, listed under ``"null_means_not_finite"``."""
    replaced: list[str] = []
    clean = _finite(obj, "", replaced)
    if replaced and isinstance(clean, dict):
        clean["null_means_not_finite"] = replaced
    text = json.dumps(clean, indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _finite(obj: Any, where: str, replaced: list[str]) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        replaced.append(where or "(value)")
        return None
    if isinstance(obj, dict):
        return {k: _finite(v, f"{where}.{k}".lstrip("."), replaced) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v, f"{where}[{i}]", replaced) for i, v in enumerate(obj)]
    return obj


def save_checkpoint(path: str | Path, state: dict[str, Any], fingerprint: dict[str, Any]) -> Path:
    payload = {"format": FORMAT, "fingerprint": fingerprint, **state}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and check a checkpoint; ``fingerprint`` must equal the saved one if given."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train first (nasengine train --out "
                              f"{path.parent}) or point --out at a finished run")
    try:
        payload = safe_load(path)
    except CheckpointError:
        raise
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}); "
                              "delete it and resume from an earlier copy or retrain") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nasengine checkpoint (format "
                              f"{payload.get('format') if isinstance(payload, dict) else '?'!r}, "
                              f"expected {FORMAT!r})")
    if fingerprint is not None and payload["fingerprint"] != fingerprint:
        diff = _differences(payload["fingerprint"], fingerprint)
        raise CheckpointError(f"checkpoint {path} belongs to another space or configuration "
                              f"(differs in {diff}); resume with the same config, or write the "
                              "new run to another --out folder")
    return payload


def check_finite(weights: dict[str, Any], path: Path) -> None:
    """Refuse a state dict with NaN/inf values: every arch would score alike, silently."""
    bad = [k for k, v in weights.items()
           if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"checkpoint {path} holds non-finite (NaN/inf) weights in "
                              f"{len(bad)} tensors (first: {bad[0]}); training diverged: "
                              f"retrain with a lower train.lr or a train.grad_clip")


def safe_load(path: str | Path) -> Any:
    """``torch.load`` that executes nothing: code in the pickle raises :class:`CheckpointError`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = found.group(1) if found else "a non-tensor object"
        raise CheckpointError(f"refusing to load {path}: its pickle calls {what}, which a "
                              f"nasengine file never holds (it could run code); do not use "
                              f"files from untrusted sources, and retrain or ask for a clean "
                              f"copy") from None


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} -> {b!r}"]
