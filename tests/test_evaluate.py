"""BN protocols: what each one computes, and that scoring leaves the supernet unchanged."""
import pytest
import torch
from torch import nn

from nasengine.errors import ConfigError
from nasengine.evaluate import BN_PROTOCOLS, BatchStatistics, Evaluator, Recalibration
from nasengine.families import get_family

FAMILY = get_family("nb201")
ARCH = FAMILY.space().parse(
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|")


@pytest.fixture
def net():
    torch.manual_seed(0)
    model = FAMILY.build_supernet(channels=4, cells=1)
    model.train()
    with torch.no_grad():  # give running stats non-trivial values
        model(torch.randn(16, 3, 32, 32) * 3 + 1, ARCH)
    return model.eval()


def buffers(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_batch_protocol_equals_train_mode_bn_and_leaves_buffers(net):
    x = torch.randn(8, 3, 32, 32)
    before = buffers(net)
    with torch.no_grad(), BatchStatistics().scoring(net, ARCH):
        out = net(x, ARCH)
    after = buffers(net)
    assert all(torch.equal(before[k], after[k]) for k in before)
    reference = FAMILY.build_supernet(channels=4, cells=1)
    reference.load_state_dict(net.state_dict())
    reference.train()
    with torch.no_grad():
        assert torch.allclose(out, reference(x, ARCH), atol=1e-5)


def test_recalibration_uses_the_exact_mean_of_its_batches(net):
    batches = [(torch.randn(8, 3, 32, 32) + i, torch.zeros(8, dtype=torch.long)) for i in range(3)]
    before = buffers(net)
    protocol = Recalibration(batches)
    stem_bn = net.network.stem[1]
    with protocol.scoring(net, ARCH):
        with torch.no_grad():
            feats = [net.network.stem[0](x) for x, _ in batches]
        expected = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
        assert torch.allclose(stem_bn.running_mean, expected, atol=1e-5)
        assert not stem_bn.training
    after = buffers(net)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert protocol.describe() == {"bn": "recalibrate", "recal_batches": 3, "recal_batch_size": 8}


def test_evaluator_accuracy_matches_a_direct_computation(net):
    x, y = torch.randn(20, 3, 32, 32), torch.randint(0, 10, (20,))
    evaluator = Evaluator(net, [(x[:10], y[:10]), (x[10:], y[10:])], BatchStatistics())
    with torch.no_grad(), BatchStatistics().scoring(net, ARCH):
        direct = torch.cat([net(x[:10], ARCH), net(x[10:], ARCH)]).argmax(1)
    assert evaluator.score(ARCH) == pytest.approx(100.0 * (direct == y).float().mean().item())
    assert evaluator.describe()["eval_images"] == 20


def test_protocol_registry_and_bad_input():
    assert BN_PROTOCOLS.names() == ["batch", "recalibrate"]
    with pytest.raises(ConfigError, match="known: batch, recalibrate"):
        BN_PROTOCOLS.create("running")
    with pytest.raises(ValueError, match="at least one"):
        Recalibration([])
    with pytest.raises(ValueError, match="at least one"):
        Evaluator(nn.Identity(), [], BatchStatistics())


def test_deduplicated_ranking_equals_scoring_every_arch(net):
    """The optimised path (one evaluation per equivalence class) changes no score."""
    import random

    space = FAMILY.space()
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(30)]
    archs += [space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
              space.parse("|none~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|none~2|")]
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    evaluator = Evaluator(net, [(x, y)], BatchStatistics())
    fast = evaluator.score_many(archs, progress=False)
    assert evaluator.distinct_evaluations < len(archs)
    assert fast == [evaluator.score(a) for a in archs]


def test_channels_last_evaluation_matches_the_plain_layout(net):
    """The fast layout (channels_last, used for training and ranking) changes no logit."""
    import copy
    import random

    space = FAMILY.space()
    rng = random.Random(1)
    archs = [space.sample(rng) for _ in range(5)] + [ARCH]
    x = torch.randn(32, 3, 32, 32)
    fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
    recal = Recalibration([(torch.randn(16, 3, 32, 32), None)])
    for arch in archs:
        with torch.inference_mode(), recal.scoring(net, arch):
            plain = net(x, arch)
        with torch.inference_mode(), recal.scoring(fast, arch):
            quick = fast(x.to(memory_format=torch.channels_last), arch)
        torch.testing.assert_close(quick, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_forked_workers_give_the_serial_scores_in_order(net):
    """Process-parallel ranking returns each arch's own score, as one serial process would."""
    import random

    space = FAMILY.space()
    rng = random.Random(3)
    archs = [space.sample(rng) for _ in range(40)]
    torch.manual_seed(1)
    batches = [(torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,)))]
    recal = Recalibration([(torch.randn(32, 3, 32, 32), None)])
    evaluator = Evaluator(net, batches, recal)
    before = buffers(net)
    parallel = evaluator.score_many(archs, progress=False, workers=2)
    serial = evaluator.score_many(archs, progress=False, workers=1)
    assert parallel == serial
    assert all(torch.equal(v, buffers(net)[k]) for k, v in before.items())


def test_forked_workers_return_every_score_to_its_own_arch(net):
    """Shards come back in order: a score that names its arch lands on that arch."""
    import random

    class Tagged(Evaluator):
        def score(self, arch):  # runs in the workers: a score unique to the arch
            return float(FAMILY.space().encode(arch))

    space = FAMILY.space()
    rng = random.Random(4)
    archs = [space.sample(rng) for _ in range(50)]
    evaluator = Tagged(net, [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))],
                       BatchStatistics())
    expected = [float(space.encode(net.canonical(a))) for a in archs]
    assert evaluator.score_many(archs, progress=False, workers=3) == expected


def test_a_dying_worker_raises_a_clear_error_instead_of_hanging(net):
    import os
    import random

    parent = os.getpid()

    class Dying(Evaluator):
        def score(self, arch):  # a worker killed mid-ranking (e.g. by the OOM killer)
            if os.getpid() != parent:
                os._exit(1)
            return 0.0

    space = FAMILY.space()
    rng = random.Random(5)
    archs = [space.sample(rng) for _ in range(40)]
    evaluator = Dying(net, [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))],
                      BatchStatistics())
    with pytest.raises(RuntimeError, match="evaluate.workers=1"):
        evaluator.score_many(archs, progress=False, workers=2)
