"""Plausible-looking mistakes (issue #24): each is one named RunsValidationError naming the
column and the rows (or a readable file), raised before any sampling; and the public tables in
../shared/data raise none of them."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.data.outliers import FLOPS_ABOVE, FLOPS_BELOW
from bayes_scaling.data.runs import Runs
from bayes_scaling.errors import RunsValidationError, spoken_as

SHARED_DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def good():
    return bs.synthetic.chinchilla_runs(random_seed=0).to_frame()


@pytest.fixture(scope="module")
def trained():
    """Runs that reach 1.8-2.3 nats: their perplexities are 6-10, below the "above 20" check."""
    return bs.synthetic.chinchilla_runs(random_seed=0, flops_range=(1e22, 1e25)).to_frame()


def _problems(frame, **kwargs) -> list[str]:
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(frame, **kwargs)
    return info.value.problems


# ------------------------------------------------------------------ 1. perplexity of trained models
def test_perplexity_of_trained_models_is_named(trained):
    ppl = trained.assign(loss=np.exp(trained["loss"]))
    assert 4.5 < ppl["loss"].min() and ppl["loss"].max() < 20  # what the "above 20" check missed
    problems = _problems(ppl.rename(columns={"loss": "eval/ppl"}), loss="eval/ppl")
    assert re.search(r"column 'eval/ppl' holds .*every value is above 4\.5.*perplexity\? give loss = ln", problems[0])
    Runs.from_frame(ppl, plausibility=False)  # the user can insist


def test_high_losses_of_small_or_early_runs_are_not_perplexity():
    """Losses of 4.6-7 nats are normal for small models or early checkpoints: the law's scale
    at their N and D says so (datablations' 2.8B runs start at 7.1 nats)."""
    n = np.repeat([3e6, 1e7, 3e7], 4)
    d = np.tile([3e7, 6e7, 1.2e8, 2.4e8], 3)
    loss = 1.69 + 406.4 * n**-0.34 + 410.7 * d**-0.28  # Chinchilla's law: 4.6-8.1 nats here
    assert loss.min() > 4.5
    Runs.from_frame(pd.DataFrame({"params": n, "tokens": d, "loss": loss}))
    big_early = pd.DataFrame({"params": 2.8e9, "tokens": np.geomspace(1e8, 3e9, 8), "step": np.arange(8)})
    big_early["loss"] = np.linspace(7.1, 4.6, 8)
    Runs.from_frame(big_early.assign(run_id="r"))


# ------------------------------------------------------------------ 2. constant loss, gross outliers
def test_a_constant_loss_column_is_named_without_leaking_a_scipy_warning(good):
    constant = good.assign(loss=3.0)
    problems = _problems(constant)  # warnings are errors in the tests: none may leak
    assert re.search(r"column 'loss' holds the same value \(3\) in all \d+ rows", problems[0])
    runs = Runs.from_frame(constant, plausibility=False)
    with pytest.raises(RunsValidationError, match="every row has the same loss"):
        runs.check_fittable(5, "chinchilla")


@pytest.mark.parametrize(
    "column, row, value, pattern",
    [
        ("loss", 17, 1e-12, r"column 'loss' at row 17 \(1e-12\) lies \d+\.\d decades away from every other row"),
        ("params", 5, 1e30, r"column 'params' at row 5 \(1e\+30\) lies \d+\.\d decades away"),
        ("tokens", 40, 5e3, r"column 'tokens' at row 40 \(5e\+03\) lies \d+\.\d decades away"),
    ],
    ids=["loss-1e-12", "params-1e30", "tokens-typo"],
)
def test_gross_outliers_are_named_with_their_rows(good, column, row, value, pattern):
    bad = good.copy()
    bad.loc[row, column] = value
    bad = bad.drop(columns="flops")
    problems = _problems(bad)
    assert any(re.search(pattern, p) for p in problems), problems
    assert any("typo or another unit? fix or drop those rows" in p for p in problems)


def test_a_second_cluster_of_runs_is_not_an_outlier(good):
    """Rows beyond a wide gap are named only when they are few (a typo), not a group of runs."""
    tiny = good.head(40).assign(params=good["params"].head(40) / 1e4, tokens=good["tokens"].head(40) / 1e4)
    table = pd.concat([good, tiny], ignore_index=True).drop(columns=["flops", "run_id"])
    problems = []
    try:
        Runs.from_frame(table)
    except RunsValidationError as err:
        problems = err.problems
    assert not any("decades away" in p for p in problems)


# ------------------------------------------------------------------ 3. flops against k N D
def test_flops_off_k_n_d_by_orders_of_magnitude_name_the_rows(good):
    bad = good.assign(flops=6 * good["params"] * good["tokens"])
    bad.loc[[4, 9], "flops"] *= 1e3
    problems = _problems(bad)
    assert re.search(
        rf"column 'flops' disagrees with k\*N\*D \(k = 6\) by more than {FLOPS_ABOVE:g}x above or {FLOPS_BELOW:g}x "
        r"below at rows 4, 9 .*pass the right flops_per_param_token=\.\.\., or pass flops=None",
        problems[0],
    )
    in_gflops = good.assign(flops=6 * good["params"] * good["tokens"] / 1e9)
    assert re.search(r"in every row \(median ratio 1e-09\): another unit \(GFLOPs", _problems(in_gflops)[0])


@pytest.mark.parametrize("ratio", [1.055, 1 / 3, 0.0875], ids=["marin", "forward-only", "moe-active-params"])
def test_flops_conventions_within_the_margin_pass(good, ratio):
    Runs.from_frame(good.assign(flops=ratio * 6 * good["params"] * good["tokens"]))


# ------------------------------------------------------------------ 4. bits among nats, any share
def test_half_the_rows_in_bits_are_two_groups_named_by_the_higher(good):
    bits = np.arange(len(good)) % 2 == 1
    mixed = good.assign(loss=np.where(bits, good["loss"] / np.log(2), good["loss"]))
    problems = _problems(mixed)
    assert re.search(
        rf"column 'loss' holds two groups .* factor 1/ln 2 = 1\.44 .* the higher at rows 1, 3, 5, 7, 9, .*"
        rf"\({bits.sum()} rows\), the other {(~bits).sum()} rows lower: bits mixed with nats\?.*loss_unit='bits'",
        problems[0],
    )


def test_a_single_outlier_near_1_44x_among_scattered_early_checkpoints_is_not_bits(good):
    """One row that happens to sit 1.3-1.5x above the law is an outlier, not a unit."""
    odd = good.copy()
    odd.loc[8, "loss"] *= 1.39
    try:
        Runs.from_frame(odd)
    except RunsValidationError as err:
        assert not any("bits" in p for p in err.problems)


# ------------------------------------------------------------------ 5. reading files
@pytest.mark.parametrize("sep", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_from_csv_detects_the_delimiter(tmp_path, good, sep):
    path = tmp_path / "runs.csv"
    good.head(30).to_csv(path, sep=sep, index=False)
    assert len(Runs.from_csv(path)) == 30
    assert len(Runs.from_csv(path, sep=sep)) == 30


def test_a_frame_split_with_the_wrong_delimiter_says_so(tmp_path, good):
    path = tmp_path / "runs.csv"
    good.head(30).to_csv(path, sep=";", index=False)
    problems = _problems(pd.read_csv(path))
    assert len(problems) == 1
    assert re.search(
        r"wrong delimiter: 'params;tokens;.*' holds ';'; read the file with pd.read_csv\(path, sep=';'\)", problems[0]
    )


def test_a_latin1_byte_names_its_line_and_the_encoding_to_pass(tmp_path, good):
    path = tmp_path / "runs.csv"
    text = good.head(20)[["params", "tokens", "loss"]].assign(family="cafe").to_csv(index=False)
    path.write_bytes(text.replace("cafe", "café", 1).encode("latin-1"))
    with pytest.raises(RunsValidationError, match=r"byte 0xe9 at line 2, column \d+ .*encoding='latin-1'"):
        Runs.from_csv(path)
    runs = Runs.from_csv(path, encoding="latin-1")
    assert runs.frame["family"].iloc[0] == "café"
    with pytest.raises(RunsValidationError, match="unknown text encoding 'klingon'"):
        Runs.from_csv(path, encoding="klingon")


def test_a_utf8_file_with_a_byte_order_mark_reads(tmp_path, good):
    path = tmp_path / "runs.csv"
    path.write_bytes(good.head(10).to_csv(index=False).encode("utf-8-sig"))
    assert len(Runs.from_csv(path)) == 10


# ------------------------------------------------------------------ 6. column suggestions
def test_a_missing_loss_suggests_the_export_name_not_a_column_of_another_role(good):
    export = good.rename(columns={"loss": "eval/loss"}).assign(**{"train/loss": good["loss"] * 1.01})
    problems = _problems(export)
    assert len(problems) == 1
    assert "did you mean 'eval/loss' (or 'train/loss')? pass loss='eval/loss'" in problems[0]
    assert "'flops'?" not in problems[0]
    only_flops = good.drop(columns="loss")
    assert "pass loss='<your column>' to name it" in _problems(only_flops)[0]  # never 'flops'


@pytest.mark.parametrize(
    "renames, expected",
    [
        ({"params": "model_size", "tokens": "tokens_seen"}, ["pass params='model_size'", "pass tokens='tokens_seen'"]),
        (
            {"params": "N", "tokens": "D", "loss": "val_loss"},
            ["pass params='N'", "pass tokens='D'", "pass loss='val_loss'"],
        ),
        ({"params": "n_params", "loss": "validation_loss"}, ["pass params='n_params'", "pass loss='validation_loss'"]),
    ],
)
def test_common_export_names_are_suggested_for_their_role(good, renames, expected):
    problems = _problems(good.rename(columns=renames))
    assert len(problems) == len(expected)
    for problem, advice in zip(problems, expected, strict=True):
        assert advice in problem


def test_checkpoints_without_a_step_column_suggest_the_exported_one(good):
    curve = pd.DataFrame({"run_id": "r1", "params": 1e8, "tokens": [1e9, 2e9, 3e9, 4e9], "loss": [3.5, 3.2, 3.1, 3.0]})
    problems = _problems(curve.assign(_step=[10, 20, 30, 40]))
    assert "name the step column if these are checkpoints of one run (step='_step')" in problems[0]
    assert "the tokens order them too: step='tokens'" in _problems(curve)[0]
    assert len(Runs.from_frame(curve, step="tokens")) == 4


def test_advice_is_spelled_in_the_callers_words(good):
    flags = {"plausibility": "--no-plausibility", "flops": "--flops-col {}", "loss": "--loss-col {}"}

    def spell(name, value):
        return flags[name].format(value) if name in flags else None

    with spoken_as(spell):
        message = "\n".join(_problems(good.assign(loss=3.0)))
        suggestion = _problems(good.rename(columns={"loss": "eval/loss"}))[0]
    assert "--no-plausibility to skip these checks" in message and "plausibility=False" not in message
    assert "pass --loss-col eval/loss" in suggestion


# ------------------------------------------------------------------ 7. final checkpoints
def _flagged_curves():
    rows = []
    for i, n in enumerate([1e8, 2e8, 4e8]):
        for s, d in enumerate([2e9, 4e9, 8e9]):
            loss = 1.69 + 406.4 * n**-0.34 + 410.7 * d**-0.28
            flag = {0: "false", 1: "", 2: "true"}[i] if s == 2 else "false"
            rows.append(
                {"run_id": f"r{i}", "step": s, "params": n, "tokens": d, "loss": loss, "is_final_checkpoint": flag}
            )
    return pd.DataFrame(rows)


def test_final_reads_the_final_checkpoint_flag():
    """r0: every row false (stopped early: left out); r1: blank (its last row); r2: flagged."""
    runs = Runs.from_frame(_flagged_curves())
    np.testing.assert_array_equal(runs.frame["is_final_checkpoint"].to_numpy()[[2, 5, 8]], [0.0, np.nan, 1.0])
    final = runs.final()
    assert list(final.run_table["run_id"]) == ["r1", "r2"] and len(final) == 2
    assert final.final() is final
    ignored = Runs.from_frame(_flagged_curves(), final=None)  # the flag not read: the last rows
    assert "is_final_checkpoint" not in ignored.frame and len(ignored.final()) == 3


def test_the_final_flag_can_be_mapped_and_its_values_are_checked():
    frame = _flagged_curves().rename(columns={"is_final_checkpoint": "done"})
    assert len(Runs.from_frame(frame, final="done").final()) == 2
    frame.loc[4, "done"] = "maybe"
    with pytest.raises(RunsValidationError, match=r"column 'done' \(the final-checkpoint flag\) .* at row 4"):
        Runs.from_frame(frame, final="done")
    with pytest.raises(
        RunsValidationError, match="column 'finished' given for is_final_checkpoint is not in the table"
    ):
        Runs.from_frame(frame, final="finished")


# ------------------------------------------------------------------ the public tables
def _shared(name):
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.mark.parametrize(
    "name, columns",
    [
        ("chinchilla_epoch.csv", {}),
        ("datablations_final.csv", {}),
        ("marin_isoflops.csv", {}),  # flops = 1.055 x 6ND
        ("llama3_isoflops.csv", {}),  # another loss scale (0.7-0.9)
        ("xlstm_isoflops.csv", {}),  # checkpoints, flagged finals, runs stopped early
        ("stepfun_lr_bs.csv", {"params": "params_nonembedding"}),  # D up to 1e13 for 117 placeholder rows
    ],
)
def test_public_tables_raise_no_false_alarm(name, columns):
    runs = Runs.from_csv(_shared(name), **columns)
    assert len(runs) == len(pd.read_csv(SHARED_DATA / name, usecols=["loss"]))


@pytest.mark.parametrize(
    "family, kind",
    [
        ("datablations_repeat", None),  # 2.8B-8.7B runs starting at 7.1 nats; no step column
        ("llm360_k2", None),  # one size, a row at 1.44x the law by chance
        ("moduleformer_moe", None),  # flops = 6 x active N x D: 0.0875 x 6ND
        ("olmo", "eval:v3-small-dolma_stack-validation"),  # a row at 1.44x the law by chance
        ("olmo", "eval:twitterAEE-validation"),  # every loss above 3.3 nats
        ("opt", None),
    ],
)
def test_public_checkpoint_tables_raise_no_false_alarm(hitchhiker, family, kind):
    rows = hitchhiker[(hitchhiker["family"] == family) & ((hitchhiker["loss_kind"] == kind) if kind else True)]
    step = "tokens" if rows["step"].isna().all() else "step"
    runs = Runs.from_frame(rows.reset_index(drop=True), step=step)
    assert runs.has_checkpoints and len(runs.final()) <= runs.n_runs


@pytest.fixture(scope="module")
def hitchhiker():
    columns = ["family", "run_id", "params", "tokens", "flops", "step", "loss", "loss_kind", "is_final_checkpoint"]
    return pd.read_csv(_shared("hitchhiker_colpret.csv"), usecols=columns, low_memory=False)


def test_public_overtraining_table_with_a_point_near_1_44x_raises_no_false_alarm():
    frame = pd.read_csv(_shared("mlfoundations_overtrain.csv"))
    for (_, kind), rows in frame.groupby(["family", "loss_kind"]):
        if kind.startswith("eval:"):
            Runs.from_frame(rows.reset_index(drop=True))
