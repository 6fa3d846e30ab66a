"""Run configuration: dataclasses, TOML presets and ``key=value`` overrides.

Configuration lives in data (``nasengine/configs/*.toml``), never in code paths:
a preset is a TOML file, and every field can be overridden from the CLI.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESET_DIR = Path(__file__).parent / "configs"


@dataclass
class SupernetConfig:
    space: str = "nb201"
    sharing: str = "weight_sharing"
    channels: int = 8
    cells: int = 1
    num_classes: int = 10


@dataclass
class DataConfig:
    dataset: str = "cifar10"
    source: str | None = None  # None: $NASENGINE_DATA/<dataset>
    train_limit: int | None = None  # train on a seeded subset (tests, quick looks)
    augment: bool = True
    # Hold out this many training images (seeded) as the validation split that learning
    # samplers score archs on (ENAS's reward, ShiftNAS's shift); never the test images.
    valid_images: int = 0


@dataclass
class TrainConfig:
    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.05
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    channels_last: bool = True
    # Split each batch over this many 1-thread CPU threads (BN statistics per part, as in
    # DDP without SyncBN); 2 on a 2-core machine; CUDA runs the whole batch.
    data_parallel: int = 1
    # Under torchrun: BN uses the statistics of the whole batch, gathered over the ranks
    # (SyncBN), so the run is train.data_parallel = 1's; it resumes as that in one process.
    sync_bn: bool = False


@dataclass
class SamplerConfig:
    name: str = "uniform"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalConfig:
    archs: str = "random"  # "random" (n_archs seeded) or "all"
    n_archs: int = 200
    arch_seed: int = 0
    bn: str = "batch"  # "batch" (batch statistics) or "recalibrate"
    recal_batches: int = 10
    recal_batch_size: int = 128
    eval_images: int = 2000
    batch_size: int = 500
    oracle: str | None = None  # path of the ground-truth table; None: $NASENGINE_DATA/nb201
    oracle_dataset: str = "cifar10"
    oracle_split: str = "test"
    bootstrap: int = 1000
    workers: int = 1  # forked 1-thread scoring processes (CPU); 2 on a 2-core machine
    # Ranking over training: every track_every epochs (0: off) score track_archs seeded archs
    # and write their Kendall tau to metrics.jsonl; training results do not move.
    track_every: int = 0
    track_archs: int = 20


@dataclass
class FewShotConfig:
    """Few-shot splitting into a tree of sub-supernets (off while ``strategy`` is "").

    Splits happen after ``warmup_epochs`` and then every ``split_every`` epochs, ``splits``
    times in all, inside the ``train.epochs`` budget, so a split run costs as many training
    steps as the one-shot run it is compared with.
    """

    strategy: str = ""  # "" (one-shot), or a registered split strategy: "gm", "exhaustive"
    warmup_epochs: int = 1
    split_every: int = 1
    splits: int = 1
    decisions: list[str] = field(default_factory=list)  # candidate decisions; empty: all
    options: dict[str, Any] = field(default_factory=dict)  # options of the strategy


@dataclass
class ProxyConfig:
    """Training-free rivals (nasengine.proxies) scored on each arch's stand-alone network.

    Every ranking report shows ``names`` beside the supernet on the same archs; the
    hybrid ranking combines the supernet and ``hybrid`` by ``rule`` (``logrank-sum``:
    the sum of their log-ranks; ``shortlist``: the top ``shortlist`` share by
    ``hybrid``, ordered by the supernet, first; see nasengine.proxies.hybrid). Values are
    cached under ``cache`` (default ``$NASENGINE_CACHE/proxies``) by space, network,
    batch and seed, so each arch is scored once for every report.
    """

    names: list[str] = field(default_factory=list)  # e.g. ["naswot", "synflow", "ensemble"]
    ensemble: list[str] = field(default_factory=list)  # members; empty: AZ-NAS's four
    hybrid: list[str] = field(default_factory=lambda: ["ensemble"])
    rule: str = "logrank-sum"  # a registered hybrid rule: "logrank-sum", "shortlist"
    shortlist: float = 0.1  # the shortlist rule's share of archs the proxies pick
    seed: int = 0  # initialisation and minibatch
    batch_size: int = 64  # training images in the minibatch
    channels: int = 16  # the stand-alone network the ground truth trained (NB201: C16N5)
    cells: int = 5
    cache: str | None = None
    workers: int = 1  # forked 1-thread processes (CPU)
    #: compute them during training in a niced background process (CPU runs; see
    #: nasengine.proxies.prefetch): the idle share of the cores pays for most of them
    prefetch: bool = True

    def __post_init__(self) -> None:
        for key in ("names", "ensemble", "hybrid"):
            value = getattr(self, key)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"proxies.{key} must be a list of proxy names, got {value!r}")
        for key in ("batch_size", "channels", "cells", "workers"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"proxies.{key} must be a positive integer, got {value!r}")
        from .proxies.hybrid import HYBRID_RULES

        if not isinstance(self.rule, str) or self.rule not in HYBRID_RULES:
            raise ConfigError(f"proxies.rule = {self.rule!r} is not a hybrid rule; known: "
                              f"{', '.join(HYBRID_RULES.names())}")


@dataclass
class RunConfig:
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    fewshot: FewShotConfig = field(default_factory=FewShotConfig)
    proxies: ProxyConfig = field(default_factory=ProxyConfig)
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    estimate_cost: bool = False  # time a few steps and print the run's cost before it starts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> dict[str, Any]:
        """The fields a checkpoint must agree with to be resumed.

        ``fewshot`` joins only when splitting is on (``data.valid_images`` only when
        non-zero), so checkpoints written before those fields existed still resume.
        ``train.sync_bn`` never joins: with it, a run is ``train.data_parallel = 1``'s
        (whole-batch BN statistics), so either resumes the other at any world size.
        """
        d = self.to_dict()
        if not self.data.valid_images:  # runs from before the validation split still resume
            del d["data"]["valid_images"]
        if d["train"].pop("sync_bn"):  # whole-batch BN: the maths of one part per batch
            d["train"]["data_parallel"] = 1
        keys = ("supernet", "data", "train", "sampler", "seed") + (
            ("fewshot",) if self.fewshot.strategy else ())
        return {k: d[k] for k in keys}


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown} in [{where or 'top level'}]; "
                          f"valid keys: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        sub = getattr(cls, "__dataclass_fields__")[name]
        default = sub.default_factory() if sub.default_factory is not dataclasses.MISSING else None
        if is_dataclass(default) and not isinstance(value, dict):
            raise ConfigError(f"[{f'{where}.{name}'.strip('.')}] must be a table, got {value!r}")
        kwargs[name] = (_build(type(default), value, f"{where}.{name}".strip("."))
                        if is_dataclass(default) else value)
    return cls(**kwargs)


def from_dict(values: dict[str, Any]) -> RunConfig:
    """A checked config: unknown keys, wrong types and out-of-range values raise ConfigError."""
    from .validation import validate_config

    config = _build(RunConfig, values, "")
    validate_config(config)
    return config


def load_config(name_or_path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """A preset name (``demo``, ``cpu-proxy``, ...) or a TOML path, plus ``a.b=value`` overrides."""
    values: dict[str, Any] = {}
    if name_or_path:
        path = Path(name_or_path)
        if not path.suffix:
            path = PRESET_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            presets = sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
            raise ConfigError(f"config {str(name_or_path)!r} not found; give a TOML file or one "
                              f"of the presets {presets}")
        values = _read_toml(path)
    for item in overrides:
        _apply_override(values, item)
    return from_dict(values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.object[exc.start]:#x} "
                          f"at offset {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror})") from None


def _apply_override(values: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.key=value")
    key, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare string
    target = values
    *parents, leaf = key.strip().split(".")
    for p in parents:
        target = target.setdefault(p, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {item!r}: {p!r} is not a section")
    target[leaf] = value
