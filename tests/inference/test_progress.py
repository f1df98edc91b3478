"""Progress off a terminal (logs, CI, Slurm): plain lines with an ETA on stderr."""

from __future__ import annotations

import io
import re
import warnings

import pytest

import bayes_scaling as bs
from bayes_scaling.inference import sampling
from bayes_scaling.inference.sampling import PlainProgress

LINE = re.compile(r"^sampling: (\d+)/(\d+) draws \((\d+)%\), .+ elapsed, ETA .+$")


def quiet_fit(runs, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)  # 50 draws: low ESS is expected
        return bs.fit(runs, draws=50, tune=50, chains=2, random_seed=0, **kwargs)


@pytest.mark.parametrize("every_line", [False, True])
def test_fit_off_a_terminal_prints_progress_with_eta(small_runs, capsys, monkeypatch, every_line):
    """Under capsys stderr is not a terminal, as in a log file. With the default spacing a
    tiny fit gets the first and the last line; with none, lines on the way too."""
    if every_line:
        monkeypatch.setattr(sampling, "PROGRESS_SECONDS", 0.0)
        monkeypatch.setattr(sampling, "PROGRESS_RATE_MS", 20)
    quiet_fit(small_runs, progressbar=True)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("sampling:")]
    assert lines[0] == "sampling: 2 chains x 100 draws (tuning included) on 2 cores" or lines[0].endswith(
        "on 1 cores"
    ), err
    progress = [LINE.match(line) for line in lines[1:]]
    assert progress and all(progress), err
    assert any("ETA" in line for line in lines)
    assert progress[-1].group(1) == progress[-1].group(2) == "200"  # the last line: every draw done
    done = [int(m.group(1)) for m in progress]
    assert done == sorted(done)


def test_no_progress_lines_without_progressbar(small_runs, capsys):
    quiet_fit(small_runs, progressbar=False)
    assert "sampling:" not in capsys.readouterr().err


def test_lines_are_spaced_by_share_and_time_whichever_is_rarer(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(sampling.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    lines = PlainProgress(1000, chains=4, cores=2, stream=out)

    def at(seconds, done):
        clock[0] = 100.0 + seconds
        lines.update(done)
        return out.getvalue().splitlines()

    assert len(at(5, 500)) == 1  # half done but only 5 s: not yet
    assert at(40, 500)[-1] == "sampling: 500/1000 draws (50%), 40 s elapsed, ETA 40 s"
    assert len(at(200, 550)) == 2  # long after, but only 5% more: not yet
    assert at(200, 600)[-1] == "sampling: 600/1000 draws (60%), 3 min elapsed, ETA 2 min"
    assert at(210, 1000)[-1].startswith("sampling: 1000/1000 draws (100%)")  # the end: always
    assert len(at(220, 1000)) == 4  # once
    assert len(lines.finish(out).getvalue().splitlines()) == 4
