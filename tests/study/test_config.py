"""Study files: the shipped method studies load and are fair; cells get the study's layers."""
from pathlib import Path

import pytest

from nasengine.errors import ConfigError
from nasengine.samplers import SAMPLERS
from nasengine.study import load_study
from nasengine.study.config import identity, slug

STUDIES = sorted((Path(__file__).parents[2] / "benchmarks" / "studies").glob("*.toml"))


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_shipped_study_loads_with_one_budget_and_protocol(path, tmp_path):
    study = load_study(path)
    missing = sorted({m["sampler"]["name"] for m in study.methods.values()
                      if "name" in m.get("sampler", {})} - set(SAMPLERS.names()))
    if missing:
        pytest.skip(f"samplers {missing} are not registered in this checkout")
    cells = study.cells(tmp_path)
    assert len(cells) == len(study.methods) * len(study.seeds)
    assert len({c.path for c in cells}) == len(cells)


def test_cells_layer_preset_study_config_method_overrides_and_seed(write_study, tmp_path):
    study = load_study(write_study(), overrides=["train.lr=0.1", "threads=1"])
    cells = {(c.method, c.seed): c for c in study.cells(tmp_path)}
    pada = cells[("PA&DA", 1)].config
    assert pada.seed == 1 and pada.sampler.name == "pada"
    assert pada.sampler.options == {"path": True, "data": True}
    assert (pada.supernet.channels, pada.data.train_limit, pada.train.lr) == (4, 256, 0.1)
    assert pada.evaluate.n_archs == 20  # [config]
    assert cells[("uniform", 0)].path == tmp_path / "cells" / "uniform" / "seed0"
    assert cells[("PA&DA", 0)].path == tmp_path / "cells" / "PADA" / "seed0"
    assert "threads" not in identity(pada)


def test_method_names_must_make_distinct_folders():
    assert slug("PA&DA") == "PADA" and slug("few-shot GM") == "few-shot_GM"
    with pytest.raises(ConfigError, match="no letters or digits"):
        slug("&&")


def test_a_cell_keeps_the_report_fields_its_sampler_trains_by():
    study = load_study(Path(__file__).parents[2] / "benchmarks" / "studies" / "prior.toml",
                       overrides=['proxies.names=["naswot"]'])
    cells = {c.method: c.config for c in study.cells(Path("unused")) if c.seed == 0}
    prior, pada = identity(cells["PA&DA + proxy prior"]), identity(cells["PA&DA"])
    assert "proxies" not in pada  # the proxies shown in the report change no PA&DA cell
    assert prior["proxies"]["hybrid"] == ["ensemble"] and "names" not in prior["proxies"]
    other = cells["PA&DA + proxy prior"].to_dict()
    other["proxies"]["hybrid"] = ["naswot"]
    assert identity(other)["proxies"]["hybrid"] == ["naswot"]  # so another prior is another cell
    assert identity(prior) == prior  # a stored identity reads back the same
