"""Progress: a live bar only on a terminal; redirected logs get a few summary lines."""
from __future__ import annotations

import io
from nasengine.progress import LineProgress, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_summary_lines_not_a_bar(monkeypatch):
    monkeypatch.setenv("NASENGINE_PROGRESS_SECONDS", "0")  # a line at every update
    log = io.StringIO()
    bar = progress_bar(range(3), desc="epoch 1/2", unit="batch", stream=log)
    assert isinstance(bar, LineProgress)
    for _ in bar:
        bar.set_postfix(loss="1.234")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4
    assert lines[0].startswith("epoch 1/2: at 1/3 batch, ") and lines[0].endswith("loss=1.234")
    assert lines[-1].startswith("epoch 1/2: done 3/3 batch")


def test_a_line_says_how_long_is_left_at_the_rate_of_this_process(monkeypatch):
    monkeypatch.setenv("NASENGINE_PROGRESS_SECONDS", "0")  # a line at every update
    clock = iter([0.0, 10.0, 10.0, 20.0, 20.0, 1500.0, 1500.0])  # start, then 2 per update
    monkeypatch.setattr("nasengine.progress.time.monotonic", lambda: next(clock))
    log = io.StringIO()
    # resumed: 100 archs were done by an earlier process
    bar = progress_bar(total=110, initial=100, desc="proxies", unit="arch", stream=log)
    bar.update(2)  # 2 archs in 10 s: 8 left take 40 s
    bar.update(2)
    bar.update(6)
    lines = log.getvalue().splitlines()
    assert lines[0] == "proxies: at 102/110 arch, 10 s, ~40 s left"
    assert lines[1] == "proxies: at 104/110 arch, 20 s, ~30 s left"
    assert lines[2] == "proxies: at 110/110 arch, 1500 s"  # finished: nothing left to say


def test_the_default_interval_keeps_a_short_task_to_one_line():
    log = io.StringIO()
    with progress_bar(total=500, desc="ranking", unit="arch", stream=log) as bar:
        for _ in range(500):
            bar.update(1)
    assert log.getvalue().count("\n") == 1 and "done 500/500 arch" in log.getvalue()


def test_a_terminal_gets_the_live_bar_and_disabled_prints_nothing():
    tty, quiet = _Terminal(), io.StringIO()
    for _ in progress_bar(range(3), desc="x", unit="it", stream=tty):
        pass
    assert "\r" in tty.getvalue()
    for _ in progress_bar(range(3), desc="x", unit="it", stream=quiet, enabled=False):
        pass
    assert quiet.getvalue() == ""


def test_a_stopped_task_says_so():
    log = io.StringIO()
    bar = progress_bar(total=10, desc="search", unit="arch", stream=log)
    bar.update(4)
    bar.close()
    assert "search: stopped at 4/10 arch" in log.getvalue()


def test_training_into_a_log_writes_one_line_per_epoch(cifar10_path, tmp_path, capsys):
    from nasengine import cli

    assert cli.main(["train", "--config", "smoke", "--out", str(tmp_path), "--set",
                     "supernet.channels=2", "--set", "data.train_limit=128"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.count("epoch 1/1: done 2/2 batch") == 1
