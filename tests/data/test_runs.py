"""Validation and views of the runs table (bayes_scaling.data.runs) and the error types (bayes_scaling.errors)."""

from __future__ import annotations

import hashlib
import pathlib
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_scaling import errors
from bayes_scaling.data.runs import Runs
from bayes_scaling.errors import BayesScalingError, RunsValidationError, RunsWarning

SHARED_DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"


def _good(n=6, **columns) -> pd.DataFrame:
    """A valid table: n runs at distinct (N, D) with decreasing loss; override any column."""
    data = {
        "params": np.geomspace(1e7, 1e9, n),
        "tokens": np.geomspace(1e8, 1e11, n),
        "loss": np.linspace(4.0, 2.5, n),
    }
    data.update(columns)
    return pd.DataFrame(data)


def _replace(column, row, value, n=6):
    """The column of the good table as a list (object-like), with one cell replaced."""
    values = list(_good(n)[column])
    values[row] = value
    return {column: values}


# ------------------------------------------------------------------ bad inputs
# Each case: (make_input, from_frame kwargs, regexes that must all appear in the message).
BAD_INPUTS = [
    pytest.param(
        lambda: _good().drop(columns="params"),
        {},
        [r"missing column 'params' \(params, required\)"],
        id="missing-params",
    ),
    pytest.param(
        lambda: _good().drop(columns=["tokens", "loss"]),
        {},
        [r"missing column 'tokens'", r"missing column 'loss'"],
        id="missing-tokens-and-loss",
    ),
    pytest.param(
        lambda: _good().rename(columns={"params": "param"}),
        {},
        [r"missing column 'params'.*did you mean 'param'\? pass params='param'"],
        id="table-has-misspelt-param",
    ),
    pytest.param(
        lambda: _good(),
        {"params": "param"},
        [r"missing column 'param' \(params, required\).*did you mean 'params'\? pass params='params'"],
        id="mapping-misspelt-param",
    ),
    pytest.param(
        lambda: _good().rename(columns={"loss": "xyz"}),
        {},
        [r"missing column 'loss'.*columns present: \['params', 'tokens', 'xyz'\]; pass loss='<your column>'"],
        id="missing-loss-no-close-match",
    ),
    pytest.param(
        lambda: _good(),
        {"flops": "C"},
        [r"column 'C' given for flops is not in the table"],
        id="mapped-optional-column-absent",
    ),
    pytest.param(
        lambda: _good(),
        {"family": "model_family"},
        [r"column 'model_family' given for family is not in the table"],
        id="mapped-family-absent",
    ),
    pytest.param(
        lambda: _good(**_replace("loss", 2, np.nan)), {}, [r"column 'loss' is empty or NaN at row 2\b"], id="nan-loss"
    ),
    pytest.param(
        lambda: _good(**_replace("params", 1, None)),
        {},
        [r"column 'params' is empty or NaN at row 1\b"],
        id="none-params",
    ),
    pytest.param(
        lambda: _good(**_replace("tokens", 3, "")),
        {},
        [r"column 'tokens' is empty or NaN at row 3\b"],
        id="empty-string-tokens",
    ),
    pytest.param(
        lambda: _good(**_replace("tokens", 4, "   ")),
        {},
        [r"column 'tokens' is empty or NaN at row 4\b"],
        id="blank-string-tokens",
    ),
    pytest.param(
        lambda: _good(**_replace("loss", 0, np.inf)), {}, [r"column 'loss' is infinite at row 0\b"], id="inf-loss"
    ),
    pytest.param(
        lambda: _good(**_replace("tokens", 5, -np.inf)),
        {},
        [r"column 'tokens' is infinite at row 5\b", r"column 'tokens' must be > 0 .* at row 5\b"],
        id="minus-inf-tokens",
    ),
    pytest.param(
        lambda: _good(**_replace("params", 2, 0.0)),
        {},
        [r"column 'params' must be > 0 but is zero or negative at row 2\b"],
        id="zero-params",
    ),
    pytest.param(
        lambda: _good(tokens=[1e8, -2e8, 3e8, -4e8, 5e8, 6e8]),
        {},
        [r"column 'tokens' must be > 0 but is zero or negative at rows 1, 3\b"],
        id="negative-tokens",
    ),
    pytest.param(
        lambda: _good(**_replace("loss", 0, -2.3)),
        {},
        [r"column 'loss' must be > 0 but is zero or negative at row 0: give loss in nats/token"],
        id="negative-loss",
    ),
    pytest.param(
        lambda: _good(**_replace("loss", 3, 0)),
        {},
        [r"column 'loss' must be > 0 but is zero or negative at row 3\b"],
        id="zero-loss",
    ),
    pytest.param(
        lambda: _good(flops=[1e18, 0.0, 1e18, 1e18, 1e18, 1e18]),
        {},
        [r"column 'flops' must be > 0 but is zero or negative at row 1\b"],
        id="zero-flops",
    ),
    pytest.param(
        lambda: _good(flops=[1e18, 1e18, 1e18, 1e18, -5e18, -1.0]),
        {},
        [r"column 'flops' must be > 0 but is zero or negative at rows 4, 5\b"],
        id="negative-flops",
    ),
    pytest.param(
        lambda: _good(**_replace("params", 2, "-7B")),
        {},
        [r"column 'params' must be > 0 but is zero or negative at row 2\b"],
        id="negative-text-params",
    ),
    pytest.param(
        lambda: _good(**_replace("params", 2, "seven")),
        {},
        [r"column 'params' has text that is not a number at row 2 \(e\.g\. 'seven'\)"],
        id="text-seven",
    ),
    pytest.param(
        lambda: _good(**_replace("tokens", 1, "7X")),
        {},
        [r"column 'tokens' has text that is not a number at row 1 \(e\.g\. '7X'\)"],
        id="text-7X",
    ),
    pytest.param(
        lambda: _good(flops=["1.4TB"] + [1e18] * 5),
        {},
        [r"column 'flops' has text that is not a number at row 0 \(e\.g\. '1\.4TB'\)"],
        id="text-flops",
    ),
    pytest.param(
        lambda: _good(loss=["3.1", "2,9", "2.8", "two", "2.6", "2.5"]),
        {},
        [r"column 'loss' has text that is not a number at rows 1, 3 \(e\.g\. '2,9', 'two'\)"],
        id="text-loss-two-rows",
    ),
    pytest.param(
        lambda: _good(params=[True, False, True, True, False, True]),
        {},
        [r"column 'params' holds booleans, not numbers"],
        id="boolean-params",
    ),
    pytest.param(
        lambda: _good(**_replace("tokens", 2, True)),
        {},
        [r"column 'tokens' has text that is not a number at row 2 \(e\.g\. True\)"],
        id="boolean-cell",
    ),
    pytest.param(lambda: _good(n=0), {}, [r"the table has no rows"], id="empty-table"),
    pytest.param(
        lambda: pd.DataFrame(),
        {},
        [r"missing column 'params'", r"missing column 'tokens'", r"missing column 'loss'", r"the table has no rows"],
        id="no-columns-no-rows",
    ),
    pytest.param(lambda: _good().to_dict("list"), {}, [r"expected a pandas DataFrame, got dict"], id="dict-not-frame"),
    pytest.param(lambda: _good().to_numpy(), {}, [r"expected a pandas DataFrame, got ndarray"], id="array-not-frame"),
    pytest.param(
        lambda: _good(
            params=[1e7, 1e8, 1e8, 1e9, 2e9, 3e9],
            tokens=[1e8, 1e9, 1e9, 1e10, 2e10, 3e10],
            loss=[4.0, 3.0, 3.0, 2.5, 2.4, 2.3],
        ),
        {},
        [r"rows 1, 2 repeat the same \(N, D\) with exactly the same loss: duplicated rows\?"],
        id="identical-replicate-rows",
    ),
    pytest.param(
        lambda: _good(step=[np.inf, 1, 2, 3, 4, 5]), {}, [r"column 'step' is infinite at row 0\b"], id="inf-step"
    ),
    pytest.param(
        lambda: _good(),
        {"flops_per_param_token": 0.0},
        [r"flops_per_param_token must be a positive number \(6 for C = 6ND\), got 0\.0"],
        id="k-zero",
    ),
    pytest.param(
        lambda: _good(),
        {"flops_per_param_token": np.nan},
        [r"flops_per_param_token must be a positive number"],
        id="k-nan",
    ),
    pytest.param(
        lambda: _good(n=25, params=[np.nan] * 25),
        {},
        [r"column 'params' is empty or NaN at rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 \(and 15 more\)"],
        id="long-row-list-truncated",
    ),
    pytest.param(
        lambda: _good(n=12, loss=["bad"] * 12),
        {},
        [
            r"column 'loss' has text that is not a number at rows 0, 1, .*, 9 \(and 2 more\) "
            r"\(e\.g\. 'bad', 'bad', 'bad'\)"
        ],
        id="long-text-list-truncated",
    ),
    pytest.param(
        lambda: _good().rename(columns={"params": "N"}),
        {"params": "N", "loss": "L"},
        [r"missing column 'L' \(loss, required\)"],
        id="mapped-required-absent",
    ),
    pytest.param(
        lambda: pd.DataFrame({"N": [1e8, 2e8], "D": [1e9, np.nan], "L": [3.0, 2.9]}),
        {"params": "N", "tokens": "D", "loss": "L"},
        [r"column 'D' is empty or NaN at row 1\b"],
        id="mapped-column-named-by-source",
    ),
]


@pytest.mark.parametrize(("make", "kwargs", "patterns"), BAD_INPUTS)
def test_bad_input_raises_runs_validation_error(make, kwargs, patterns):
    with pytest.raises(RunsValidationError, match=patterns[0]) as info:
        Runs.from_frame(make(), **kwargs)
    err = info.value
    assert type(err) is RunsValidationError
    message = str(err)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    n = len(err.problems)
    assert n >= 1
    assert message.startswith(f"the runs table has {n} problem{'s' if n != 1 else ''}:\n")
    for problem in err.problems:
        assert f"\n  - {problem}" in message


def test_bad_input_table_is_large_enough():
    assert len(BAD_INPUTS) >= 20


def test_many_problems_reported_together_in_one_error():
    df = pd.DataFrame(
        {
            "params": [1e8, "seven", 3e8, 4e8, 5e8],
            "tokens": [1e9, 2e9, -3e9, 4e9, 5e9],
            "loss": [np.nan, 3.0, 2.9, np.inf, 2.7],
            "flops": [1e18, 1e18, 1e18, 1e18, 0.0],
        }
    )
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(df)
    problems = info.value.problems
    assert len(problems) >= 5
    expected = [
        r"column 'params' has text that is not a number at row 1 \(e\.g\. 'seven'\)",
        r"column 'tokens' must be > 0 .* at row 2\b",
        r"column 'loss' is empty or NaN at row 0\b",
        r"column 'loss' is infinite at row 3\b",
        r"column 'flops' must be > 0 .* at row 4\b",
    ]
    for pattern in expected:
        assert sum(bool(re.search(pattern, p)) for p in problems) == 1, (pattern, problems)


def test_all_missing_columns_reported_together():
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(pd.DataFrame({"n": [1.0], "d": [1.0], "l": [1.0]}))
    problems = info.value.problems
    assert len(problems) == 3
    for canonical, problem in zip(("params", "tokens", "loss"), problems, strict=True):
        assert problem.startswith(
            f"missing column '{canonical}' ({canonical}, required); columns present: ['n', 'd', 'l']"
        )


def test_rows_are_positions_not_index_labels():
    df = _good(**_replace("loss", 4, np.nan))
    df.index = [100, 101, 102, 103, 104, 105]
    with pytest.raises(RunsValidationError, match=r"column 'loss' is empty or NaN at row 4\b"):
        Runs.from_frame(df)


@pytest.mark.parametrize("loss", [2.1, 2.7, 3.84])
def test_identical_triplicate_rows_are_flagged(loss):
    # regression: for these losses the float mean of 3 equal log-losses is 1 ulp off, within_ss ~1e-32
    df = pd.DataFrame({"params": [1e8, 1e8, 1e8, 2e8], "tokens": [1e9, 1e9, 1e9, 2e9], "loss": [loss] * 3 + [2.5]})
    with pytest.raises(RunsValidationError, match=r"rows 0, 1, 2 repeat the same \(N, D\) with exactly the same loss"):
        Runs.from_frame(df)


@pytest.mark.parametrize("loss", [2.0, 2.5, 3.0])
def test_identical_triplicate_rows_flagged_when_mean_is_exact(loss):
    # and for these the mean is bit-exact
    df = pd.DataFrame({"params": [1e8, 1e8, 1e8, 2e8], "tokens": [1e9, 1e9, 1e9, 2e9], "loss": [loss] * 3 + [2.4]})
    with pytest.raises(RunsValidationError, match=r"rows 0, 1, 2 repeat the same \(N, D\)"):
        Runs.from_frame(df)


def test_replicates_with_different_losses_are_fine():
    df = pd.DataFrame({"params": [1e8, 1e8, 2e8], "tokens": [1e9, 1e9, 2e9], "loss": [3.0, 3.01, 2.9]})
    assert len(Runs.from_frame(df)) == 3


def test_same_size_in_different_families_is_not_a_duplicate():
    df = pd.DataFrame({"params": [1e8, 1e8], "tokens": [1e9, 1e9], "loss": [3.0, 3.0], "family": ["a", "b"]})
    runs = Runs.from_frame(df)
    assert len(runs.configs) == 2


def test_pd_na_in_string_column_is_reported_only_as_missing():
    # pd.NA (nullable 'string' dtype) is a missing value, not "text that is not a number"
    df = _good(params=["10M", None, "100M", "300M", "700M", "1B"]).convert_dtypes()
    assert df["params"].dtype == "string"
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(df)
    assert info.value.problems == ["column 'params' is empty or NaN at row 1: fill it in or drop those rows"]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (["seven", 2e8, 3e8, 4e8, 5e8, 6e8], r"column 'params' has text that is not a number at row 0\b"),
        (["1e8", "2e8", "x", "4e8", "y", "6e8"], r"column 'params' has text that is not a number at rows 2, 4\b"),
        ([True, False, True, False, True, True], r"column 'params' holds booleans, not numbers"),
    ],
    ids=["object", "text", "bool"],
)
def test_unreadable_cells_are_not_reported_again_as_missing(column, message):
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(_good(params=column))
    assert len(info.value.problems) == 1
    assert re.search(message, info.value.problems[0])


def test_unreadable_and_missing_cells_are_told_apart():
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(_good(params=["seven", None, 3e8, "", 5e8, 6e8]))
    assert len(info.value.problems) == 2
    text, missing = info.value.problems
    assert re.search(r"column 'params' has text that is not a number at row 0 \(e\.g\. 'seven'\)", text)
    assert re.search(r"column 'params' is empty or NaN at rows 1, 3\b", missing)


def test_huge_python_int_gives_validation_error():
    # a Python int beyond float range is read as infinite (as '1e400' would be), not an OverflowError
    with pytest.raises(RunsValidationError, match=r"column 'params' is infinite at row 0\b"):
        Runs.from_frame(_good(**_replace("params", 0, 10**400)))


# ------------------------------------------------------------------ good inputs
def test_suffixed_strings_are_parsed():
    df = pd.DataFrame(
        {
            "params": ["70B", "1.4T", "500M", "2.5e9"],
            "tokens": ["1.4T", " 300B ", "10B", 2e10],
            "loss": ["1.9", "1.8", 2.5, "2.2"],
        }
    )
    runs = Runs.from_frame(df)
    np.testing.assert_array_equal(runs.params, [70e9, 1.4e12, 500e6, 2.5e9])
    np.testing.assert_array_equal(runs.tokens, [1.4e12, 300e9, 10e9, 2e10])
    np.testing.assert_array_equal(runs.loss, [1.9, 1.8, 2.5, 2.2])
    assert runs.frame["params"].dtype == np.float64


@pytest.mark.parametrize("k", [None, 6.0, 2.0, 7.5])
def test_flops_derived_when_absent(k):
    df = _good()
    runs = Runs.from_frame(df) if k is None else Runs.from_frame(df, flops_per_param_token=k)
    k_used = 6.0 if k is None else k
    assert runs.flops_per_param_token == k_used
    np.testing.assert_allclose(runs.flops, k_used * df["params"].to_numpy() * df["tokens"].to_numpy(), rtol=1e-15)
    configs = runs.configs
    np.testing.assert_allclose(configs["flops"], k_used * configs["params"] * configs["tokens"], rtol=1e-15)


def test_given_flops_kept_and_gaps_filled():
    given_flops = [1.0e18, np.nan, 3.3e18, 4.4e18, np.nan, 6.6e18]
    df = _good(flops=given_flops)
    runs = Runs.from_frame(df, flops_per_param_token=4.0, plausibility=False)  # flops 25-250x off k N D
    derived = 4.0 * df["params"].to_numpy() * df["tokens"].to_numpy()
    np.testing.assert_array_equal(runs.flops, np.where(np.isnan(given_flops), derived, given_flops))
    assert not np.allclose(runs.flops[[0, 2, 3, 5]], derived[[0, 2, 3, 5]])  # not overwritten


def test_all_nan_flops_column_is_derived():
    runs = Runs.from_frame(_good(flops=[np.nan] * 6))
    np.testing.assert_allclose(runs.flops, 6.0 * runs.params * runs.tokens, rtol=1e-15)


def test_suffix_and_plain_notation_group_together():
    # the same size written '8.2B' and 8.2e9 is one configuration (needs parse_count('8.2B') == 8.2e9 exactly)
    df = pd.DataFrame({"params": ["8.2B", 8.2e9, "1B", "3B"], "tokens": [1e10, 1e10, 1e10, 3e10],
                       "loss": [2.5, 2.51, 2.8, 2.6]})  # fmt: skip
    runs = Runs.from_frame(df)
    assert runs.config_index[0] == runs.config_index[1]
    assert len(runs.configs) == 3


def test_column_mapping():
    df = pd.DataFrame(
        {
            "N": ["1B", "2B", "4B"],
            "D": [2e10, 4e10, 8e10],
            "L": [2.6, 2.4, 2.3],
            "C": [1.1e20, np.nan, 2e21],
            "who": ["x", "x", "y"],
            "s": [0, 1, 2],
        }  # fmt: skip
    )
    runs = Runs.from_frame(df, params="N", tokens="D", loss="L", flops="C", family="who", seed="s")
    assert list(runs.frame.columns) == ["params", "tokens", "loss", "flops", "seed", "family"]
    np.testing.assert_array_equal(runs.params, [1e9, 2e9, 4e9])
    np.testing.assert_array_equal(runs.tokens, [2e10, 4e10, 8e10])
    np.testing.assert_array_equal(runs.loss, [2.6, 2.4, 2.3])
    np.testing.assert_array_equal(runs.flops, [1.1e20, 6 * 2e9 * 4e10, 2e21])
    assert runs.families == ["x", "y"]
    assert runs.frame["seed"].tolist() == [0, 1, 2]
    # the source table is not modified
    assert list(df.columns) == ["N", "D", "L", "C", "who", "s"]


def test_optional_column_can_be_ignored():
    df = _good(flops=[-1.0] * 6, family=["a", "b"] * 3)
    runs = Runs.from_frame(df, flops=None, family=None)
    assert "family" not in runs.frame
    assert runs.families == []
    np.testing.assert_allclose(runs.flops, 6.0 * runs.params * runs.tokens, rtol=1e-15)


def test_missing_family_becomes_empty_string():
    runs = Runs.from_frame(_good(family=["a", None, "a", np.nan, "a", "a"]))
    assert runs.frame["family"].tolist() == ["a", "", "a", "", "a", "a"]
    assert runs.families == ["a"]


def test_from_csv(tmp_path):
    path = tmp_path / "runs.csv"
    pd.DataFrame(
        {"N": ["70M", "160M", "410M", "1B"], "D": ["1.4B", "3.2B", "8.2B", "20B"], "L": [3.5, 3.2, 2.9, 2.7]}
    ).to_csv(path, index=False)
    runs = Runs.from_csv(path, params="N", tokens="D", loss="L")
    np.testing.assert_array_equal(runs.params, [70e6, 160e6, 410e6, 1e9])
    np.testing.assert_array_equal(runs.tokens, [1.4e9, 3.2e9, 8.2e9, 20e9])  # '8.2B' is exactly 8.2e9
    assert len(Runs.from_csv(str(path), params="N", tokens="D", loss="L")) == 4  # str path too

    with pytest.raises(RunsValidationError, match=r"missing column 'params'.*did you mean 'N'\? pass params='N'"):
        Runs.from_csv(path)  # validation errors come through from_csv unchanged


def test_from_csv_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope" / "runs.csv"
    with pytest.raises(RunsValidationError, match=re.escape(f"no runs file at '{missing}'")):
        Runs.from_csv(missing)
    with pytest.raises(RunsValidationError, match=re.escape(f"no runs file at '{tmp_path}'")):
        Runs.from_csv(tmp_path)  # a directory is not a runs file


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00\x81\x82\n\x83,\x84\n"], ids=["empty-file", "binary-file"])
def test_from_csv_unreadable_file(tmp_path, content):
    path = tmp_path / "runs.csv"
    path.write_bytes(content)
    with pytest.raises(RunsValidationError, match=re.escape(f"'{path}' is not a readable CSV file")):
        Runs.from_csv(path)


# ------------------------------------------------------------------ configurations
def _replicate_table(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for n in (1e7, 3e7, 1e8, 3e8):
        for d in (2e8, 6e8, 2e9):
            for _ in range(int(rng.integers(1, 5))):
                rows.append({"params": n, "tokens": d, "loss": float(rng.uniform(2.0, 4.0))})
    df = pd.DataFrame(rows)
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # shuffled


def test_configs_group_replicate_seeds():
    df = _replicate_table()
    runs = Runs.from_frame(df)
    configs = runs.configs
    keys = sorted(set(zip(df["params"], df["tokens"], strict=True)))
    assert len(configs) == len(keys) == 12
    assert configs.index.name == "config"
    assert list(zip(configs["params"], configs["tokens"], strict=True)) == keys  # sorted by (N, D)
    log_loss = np.log(df["loss"].to_numpy())
    for c, (n, d) in enumerate(keys):
        sel = (df["params"].to_numpy() == n) & (df["tokens"].to_numpy() == d)
        x = log_loss[sel]
        assert configs.loc[c, "n_seeds"] == sel.sum()
        assert configs.loc[c, "mean_log_loss"] == pytest.approx(x.mean(), rel=1e-14)
        assert configs.loc[c, "within_ss"] == pytest.approx(((x - x.mean()) ** 2).sum(), rel=1e-10, abs=1e-300)
        assert configs.loc[c, "flops"] == pytest.approx(6.0 * n * d, rel=1e-15)
    assert configs["n_seeds"].sum() == len(df)
    assert (configs["n_seeds"] > 1).any()


def test_config_index_maps_runs_to_configs():
    df = _replicate_table(seed=3)
    runs = Runs.from_frame(df)
    index = runs.config_index
    assert index.shape == (len(df),)
    assert set(index.tolist()) == set(range(len(runs.configs)))
    np.testing.assert_array_equal(runs.configs["params"].to_numpy()[index], runs.params)
    np.testing.assert_array_equal(runs.configs["tokens"].to_numpy()[index], runs.tokens)
    # runs in the same config share N and D, runs in different configs do not
    same = index[:, None] == index[None, :]
    same_size = (runs.params[:, None] == runs.params[None, :]) & (runs.tokens[:, None] == runs.tokens[None, :])
    np.testing.assert_array_equal(same, same_size)


def test_configs_separate_families():
    df = pd.DataFrame(
        {
            "params": [1e8, 1e8, 1e8, 2e8],
            "tokens": [1e9] * 4,
            "loss": [3.0, 3.1, 2.9, 2.8],
            "family": ["b", "b", "a", "a"],
        }  # fmt: skip
    )
    runs = Runs.from_frame(df)
    configs = runs.configs
    assert configs["family"].tolist() == ["a", "a", "b"]
    assert configs["n_seeds"].tolist() == [1, 1, 2]
    np.testing.assert_array_equal(runs.config_index, [2, 2, 0, 1])
    assert configs.loc[2, "within_ss"] == pytest.approx(
        ((np.log([3.0, 3.1]) - np.log([3.0, 3.1]).mean()) ** 2).sum(), rel=1e-12
    )


def test_len_repr_to_frame():
    runs = Runs.from_frame(_replicate_table())
    assert len(runs) == len(runs.frame)
    assert repr(runs).startswith(f"Runs({len(runs)} runs in 12 configurations; N 1e+07-3e+08, D 2e+08-2e+09, loss ")
    copy = runs.to_frame()
    copy.loc[0, "loss"] = 99.0
    assert runs.frame.loc[0, "loss"] != 99.0


# ------------------------------------------------------------------ fittability, subsets
def _grid(families=None):
    rows = [{"params": n, "tokens": d, "loss": 2.0 + 1e9 / n / 1e2 + 1e10 / d / 1e2}
            for n in (1e7, 1e8, 1e9) for d in (1e8, 1e9, 1e10)]  # fmt: skip
    df = pd.DataFrame(rows)
    if families is not None:
        df["family"] = families
    return df


def test_check_fittable_passes_on_a_grid():
    assert Runs.from_frame(_grid()).check_fittable(5, "chinchilla") is None


def test_check_fittable_too_few_configs():
    runs = Runs.from_frame(_grid())
    with pytest.raises(RunsValidationError) as info:
        runs.check_fittable(9, "mylaw")
    assert info.value.problems == [
        "only 9 distinct (N, D) configurations for law 'mylaw' with 9 parameters plus noise: add runs at more sizes"
    ]


def test_check_fittable_single_n():
    df = pd.DataFrame({"params": [1e8] * 7, "tokens": np.geomspace(1e8, 1e11, 7), "loss": np.linspace(3, 2, 7)})
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(df).check_fittable(5, "chinchilla")
    assert len(info.value.problems) == 1
    assert re.search(r"runs span only 1 distinct model size\(s\) N: the N exponent cannot be identified",
                     info.value.problems[0])  # fmt: skip


def test_check_fittable_single_d():
    df = pd.DataFrame({"params": np.geomspace(1e7, 1e10, 7), "tokens": [2e9] * 7, "loss": np.linspace(3, 2, 7)})
    with pytest.raises(RunsValidationError, match=r"runs span only 1 distinct token count\(s\) D") as info:
        Runs.from_frame(df).check_fittable(5, "chinchilla")
    assert len(info.value.problems) == 1


def test_check_fittable_mixed_families():
    runs = Runs.from_frame(_grid(families=["a"] * 5 + ["b"] * 4))
    with pytest.raises(RunsValidationError) as info:
        runs.check_fittable(5, "chinchilla")
    assert info.value.problems == [
        "the runs mix 2 families ['a', 'b']: one law per family; use runs.select(family=...)"
    ]


def test_check_fittable_lists_every_problem_at_once():
    df = pd.DataFrame({"params": [1e8, 1e8, 1e8, 2e8], "tokens": [1e9] * 4, "loss": [3.0, 3.1, 3.2, 2.9],
                       "family": ["a", "a", "a", "b"]})  # fmt: skip
    with pytest.raises(RunsValidationError) as info:
        Runs.from_frame(df).check_fittable(5, "chinchilla")
    problems = info.value.problems
    assert len(problems) == 4
    assert "the runs mix 2 families ['a', 'b']" in problems[0]
    assert "only 2 distinct (N, D) configurations for law 'chinchilla' with 5 parameters" in problems[1]
    assert "runs span only 2 distinct model size(s) N" in problems[2]
    assert "runs span only 1 distinct token count(s) D" in problems[3]


def test_select_family_and_max_flops():
    runs = Runs.from_frame(_grid(families=["a", "b", "a", "b", "a", "b", "a", "b", "a"]))
    a = runs.select(family="a")
    assert isinstance(a, Runs)
    assert len(a) == 5
    assert a.families == ["a"]
    assert a.flops_per_param_token == runs.flops_per_param_token
    a.check_fittable(2, "chinchilla")  # one family now (and 3 N, 3 D)

    cap = 6.0 * 1e8 * 1e9  # inclusive bound
    small = runs.select(max_flops=cap)
    assert len(small) == int((runs.flops <= cap).sum()) == 6
    assert small.flops.max() == cap
    both = runs.select(family="b", max_flops=cap)
    assert len(both) == int(((runs.flops <= cap) & (runs.frame["family"] == "b").to_numpy()).sum())
    assert both.families == ["b"]


def test_select_unknown_family_errors():
    runs = Runs.from_frame(_grid(families=["a"] * 9))
    with pytest.raises(RunsValidationError, match=r"no runs of family 'c'; families present: \['a'\]"):
        runs.select(family="c")
    with pytest.raises(RunsValidationError, match=r"no runs of family 'a'; families present: \[\]"):
        Runs.from_frame(_grid()).select(family="a")


def test_select_max_flops_below_everything_errors():
    with pytest.raises(RunsValidationError, match="the table has no rows"):
        Runs.from_frame(_grid()).select(max_flops=1.0)


def test_subset_keeps_given_flops_and_k():
    df = _grid()
    df["flops"] = np.arange(1, 10) * 1e17
    runs = Runs.from_frame(df, flops_per_param_token=3.0, plausibility=False)  # flops far off k N D
    sub = runs.subset(np.arange(9) % 2 == 0)
    assert len(sub) == 5
    np.testing.assert_array_equal(sub.flops, [1e17, 3e17, 5e17, 7e17, 9e17])
    assert sub.flops_per_param_token == 3.0
    np.testing.assert_allclose(sub.configs["flops"], 3.0 * sub.configs["params"] * sub.configs["tokens"])


def test_data_hash():
    runs = Runs.from_frame(_grid())
    h = runs.data_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", h)
    table = np.ascontiguousarray(runs.frame[["params", "tokens", "loss", "flops"]].to_numpy(dtype=float))
    assert h == hashlib.sha256(table.tobytes()).hexdigest()
    # same numbers, different source names / extra columns / explicit flops: same hash
    renamed = _grid().rename(columns={"params": "N"}).assign(seed=1, flops=6.0 * _grid()["params"] * _grid()["tokens"])
    assert Runs.from_frame(renamed, params="N").data_hash() == h
    # any change to the numbers changes it
    changed = _grid()
    changed.loc[4, "loss"] += 1e-12
    assert Runs.from_frame(changed).data_hash() != h
    assert Runs.from_frame(_grid(), flops_per_param_token=2.0).data_hash() != h
    assert runs.subset(np.arange(9) < 8).data_hash() != h


# ------------------------------------------------------------------ real data
def test_shared_chinchilla_epoch_csv():
    path = SHARED_DATA / "chinchilla_epoch.csv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    runs = Runs.from_frame(pd.read_csv(path))
    assert len(runs) == 245
    assert runs.families == ["chinchilla"]
    assert np.all(np.isfinite(runs.flops)) and np.all(runs.flops > 0)
    np.testing.assert_allclose(runs.flops, 6.0 * runs.params * runs.tokens, rtol=1e-12)  # tokens were C/(6N)
    runs.check_fittable(5, "chinchilla")


# ------------------------------------------------------------------ errors
def test_runs_validation_error_message_and_hierarchy():
    one = RunsValidationError(["column 'x' is bad"])
    assert str(one) == "the runs table has 1 problem:\n  - column 'x' is bad"
    problems = ["a", "b"]
    two = RunsValidationError(problems)
    assert str(two) == "the runs table has 2 problems:\n  - a\n  - b"
    problems.append("c")
    assert two.problems == ["a", "b"]  # a copy, not the caller's list
    assert isinstance(one, ValueError) and isinstance(one, BayesScalingError)


def test_error_hierarchy():
    assert issubclass(errors.SpecError, ValueError) and issubclass(errors.SpecError, BayesScalingError)
    for cls in (errors.ForeignFileError, errors.FormatVersionError, errors.IdentityError):
        assert issubclass(cls, errors.IncompatibleFileError)
    assert issubclass(errors.IncompatibleFileError, BayesScalingError)
    assert issubclass(errors.FitFileNotFoundError, FileNotFoundError)
    assert issubclass(errors.FileExistsNoOverwriteError, FileExistsError)
    assert issubclass(errors.SamplingError, RuntimeError) and issubclass(errors.SamplingError, BayesScalingError)
    assert issubclass(errors.SamplingWarning, UserWarning)
    assert not issubclass(errors.SamplingWarning, BayesScalingError)


# ------------------------------------------------------------------ property test
_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, np.nan, np.inf, -np.inf, 1e-300, 5e-324, 1e300]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=8),
    st.sampled_from(["70B", "1.4T", "500M", "2.5e9", "seven", "7X", "", " ", "nan", "-1", "0", "1e999", ".5k"]),
    st.none(),
)


@st.composite
def _frames(draw):
    n = draw(st.integers(min_value=0, max_value=6))
    columns = ["params", "tokens", "loss"] + (["flops"] if draw(st.booleans()) else [])
    data = {}
    for name in columns:
        kind = draw(st.sampled_from(["mixed", "float", "int", "text"]))
        if kind == "float":
            cells = st.floats(allow_nan=True, allow_infinity=True)
        elif kind == "int":
            cells = st.integers(min_value=-(2**62), max_value=2**62)
        elif kind == "text":
            cells = st.text(max_size=6)
        else:
            cells = _cell
        data[name] = draw(st.lists(cells, min_size=n, max_size=n))
    return pd.DataFrame(data)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames())
def test_from_frame_returns_runs_or_raises_validation_error(df):
    try:
        runs = Runs.from_frame(df)
    except RunsValidationError as err:
        assert type(err) is RunsValidationError
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        return
    assert isinstance(runs, Runs)
    assert len(runs) == len(df) > 0
    for column in ("params", "tokens", "loss"):
        values = runs.frame[column].to_numpy()
        assert values.dtype == np.float64
        assert np.all(np.isfinite(values)) and np.all(values > 0)
    assert len(runs.configs) >= 1


def test_select_near_optimum_keeps_each_budgets_minimum_region():
    """Runs within a fraction of their IsoFLOP budget's best loss; budgets by exact compute."""
    rows = []
    for c in (1e18, 1e19):
        for i, n in enumerate(np.geomspace(1e7, 1e9, 7)):
            rows.append({"params": n, "tokens": c / (6 * n), "loss": 3.0 * (1 + 0.04 * abs(i - 3))})
    rows.append({"params": 5e8, "tokens": 5e10 / 3, "loss": 9.0})  # alone at its compute: kept
    runs = Runs.from_frame(pd.DataFrame(rows))
    near = runs.select(near_optimum=0.09)  # the best and the 2 neighbours (4% and 8% worse) of each
    assert len(near) == 2 * 5 + 1
    assert near.loss.max() == 9.0
    assert len(runs.select(near_optimum=0.5)) == len(runs)
    for bad in (0, -0.1, 15, True, "15%"):
        with pytest.raises(RunsValidationError, match=r"must lie between 0 and 1.*near_optimum=0.15 for 15%"):
            runs.select(near_optimum=bad)


def test_select_near_optimum_judges_configurations_of_final_checkpoints_per_family():
    """Seeds are averaged (an unlucky seed is not dropped while its lucky twin is kept), runs are
    judged by their final checkpoint and kept whole, and each family has its own budgets."""
    rows = []
    for fam, offset in (("a", 0.0), ("b", 1.0)):
        for c in (1e18, 1e19):
            for i, n in enumerate(np.geomspace(1e7, 1e9, 7)):
                for seed in (0, 1):
                    for step, frac in ((1, 0.5), (2, 1.0)):
                        loss = offset + 3 * (1 + 0.04 * abs(i - 3)) * (1.3 if frac < 1 else 1.0) + 0.05 * seed
                        rows.append(
                            {
                                "run_id": f"{fam}{c:g}-{i}-s{seed}",
                                "family": fam,
                                "seed": seed,
                                "step": step,
                                "params": n,
                                "tokens": frac * c / (6 * n),
                                "loss": loss,
                            }
                        )
    runs = Runs.from_frame(pd.DataFrame(rows))
    near = runs.select(near_optimum=0.065)  # i = 2, 3, 4 in family a; in b (losses + 1) i = 1..5
    kept = near.frame.groupby("family")["params"].nunique()
    assert kept.to_dict() == {"a": 3, "b": 5}
    assert len(near) == (3 + 5) * 2 * 2 * 2  # sizes x budgets x seeds x checkpoints
    assert (near.frame.groupby("run_id").size() == 2).all()


def test_select_near_optimum_keeps_compute_that_is_not_an_isoflop_design():
    n = np.geomspace(1e7, 1e9, 400)
    loss = 3 - 0.1 * np.log10(n) + 0.001 * np.random.default_rng(0).random(400)
    runs = Runs.from_frame(pd.DataFrame({"params": n, "tokens": 20 * n, "loss": loss}))
    with pytest.warns(RunsWarning, match=r"chain across compute without sharing a budget.*all kept"):
        near = runs.select(near_optimum=0.01)
    assert len(near) == len(runs)


def test_near_optimum_mask_with_design_labels_keeps_unlabelled_runs():
    from bayes_scaling.data.isoflop import budget_labels, near_optimum_mask

    flops = np.array([1e18, 1.06e18, 1.01e18, 1e19, 1e19, 2e19])
    loss = np.array([3.0, 3.5, 3.1, 2.5, 2.9, 4.0])
    assert list(budget_labels(flops)) == [0, 1, 0, 2, 2, 3]  # 1.06e18 is 0.025 dex away: its own budget
    labels = np.array([1e18, 1e18, 1e18, 1e19, 1e19, np.nan], dtype=object)
    assert near_optimum_mask(flops, loss, 0.05, labels).tolist() == [True, False, True, True, False, True]
