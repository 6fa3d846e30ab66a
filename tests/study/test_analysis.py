"""Study statistics: the paired test, seed summaries and the top-10% tau."""
import numpy as np
import pytest
from scipy import stats

from nasengine.study.analysis import Truth, _pairwise_tau_b, cell_stats, paired_test, summarize


@pytest.fixture
def truth():
    true = np.random.default_rng(0).normal(70, 5, 300)
    return Truth(true, float(true.max()) + 0.5, {"cifar100": true - 20})


def _cells(truth, noise, seeds=(0, 1, 2), n_bootstrap=300):
    """One method's cells: truth plus ``noise`` (std in points), seeded per seed."""
    return [cell_stats(truth.oracle + np.random.default_rng(100 + s).normal(0, noise, 300),
                       truth, n_bootstrap, seed=s) for s in seeds]


def test_paired_test_on_identical_inputs_reports_no_difference(truth):
    a = _cells(truth, noise=5.0)
    result = paired_test(a, _cells(truth, noise=5.0))
    assert result["delta"] == 0 and result["ci95"] == [0.0, 0.0]
    assert result["p_bootstrap"] == 1.0 and result["p_ttest"] == 1.0
    assert result["different"] is False and result["verdict"] == "no difference"


def test_paired_test_on_a_clearly_shifted_input_reports_a_difference(truth):
    better, worse = _cells(truth, noise=2.0), _cells(truth, noise=10.0)
    result = paired_test(better, worse)
    assert result["delta"] > 0.2 and result["ci95"][0] > 0
    assert result["p_bootstrap"] < 0.01 and result["p_ttest"] < 0.05
    assert result["different"] is True and result["verdict"] == "better"
    reverse = paired_test(worse, better)
    assert reverse["ci95"][1] < 0 and reverse["verdict"] == "worse"


def test_a_difference_whose_seeds_disagree_in_sign_is_mixed(truth):
    """The bootstrap over archs is blind to the seed spread: seeds that disagree decide."""
    good, bad = _cells(truth, 2.0, seeds=(0,)), _cells(truth, 10.0, seeds=(1,))
    method = [good[0], *_cells(truth, 2.0, seeds=(2,)), bad[0]]
    baseline = [bad[0], *_cells(truth, 10.0, seeds=(3,)), good[0]]
    result = paired_test(method, baseline)
    assert [d > 0 for d in result["per_seed_delta"]] == [True, True, False]
    assert result["different"] is True  # the arch bootstrap alone says "better"
    assert result["verdict"] == "mixed: better on 2 of 3 seeds"


def test_summary_is_mean_and_std_over_seeds_with_a_ci_around_the_mean(truth):
    cells = _cells(truth, noise=5.0)
    tau = summarize(cells)["kendall_tau"]
    per_seed = [stats.kendalltau(truth.oracle + np.random.default_rng(100 + s).normal(0, 5, 300),
                                 truth.oracle).statistic for s in range(3)]
    assert tau["per_seed"] == pytest.approx(per_seed)
    assert tau["mean"] == pytest.approx(np.mean(per_seed))
    assert tau["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert tau["ci95"][0] < tau["mean"] < tau["ci95"][1]


def test_chosen_arch_figures_follow_the_top_scored_arch(truth):
    perfect = cell_stats(truth.oracle, truth, n_bootstrap=0, seed=0).point
    assert perfect["kendall_tau"] == pytest.approx(1.0) and perfect["top10_tau"] == pytest.approx(1)
    assert perfect["regret"] == pytest.approx(0.5)  # the optimum is 0.5 above the best sampled
    assert perfect["chosen_cifar100"] == pytest.approx(truth.oracle.max() - 20)
    worst = cell_stats(-truth.oracle, truth, n_bootstrap=0, seed=0).point
    assert worst["chosen_cifar10"] == pytest.approx(truth.oracle.min())


def test_pairwise_tau_b_equals_scipy_with_ties():
    rng = np.random.default_rng(1)
    p, t = rng.integers(0, 5, (6, 25)).astype(float), rng.integers(0, 4, (6, 25)).astype(float)
    expected = [stats.kendalltau(a, b).statistic for a, b in zip(p, t)]
    assert _pairwise_tau_b(p, t) == pytest.approx(expected)


def test_without_resamples_the_t_test_decides_and_one_seed_is_untested(truth):
    better, worse = _cells(truth, 2.0, n_bootstrap=0), _cells(truth, 10.0, n_bootstrap=0)
    result = paired_test(better, worse)
    assert np.isnan(result["ci95"][0]) and result["different"] is (result["p_ttest"] < 0.05)
    assert paired_test(better[:1], worse[:1])["different"] is None
