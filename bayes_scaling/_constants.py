"""Canonical names used across the package: dims, columns, file format."""

# Dimensions of arrays in the posterior DataTree.
RUN = "run"  # one row of the runs table
CONFIG = "config"  # one distinct (family, N, D): replicate seeds share a config
CHAIN = "chain"
DRAW = "draw"
SAMPLE_DIMS = (CHAIN, DRAW)

# Column names of a validated runs table (as in ../shared/data).
PARAMS = "params"
TOKENS = "tokens"
LOSS = "loss"
FLOPS = "flops"
SEED = "seed"
RUN_ID = "run_id"
FAMILY = "family"
STEP = "step"
UNIQUE_TOKENS = "unique_tokens"  # distinct tokens behind D when data is repeated (epochs = D / U)
PARALLEL_STREAMS = "parallel_streams"  # P parallel forward streams of one backbone (ParScale)
AVERAGE_PARAMS = "average_params"  # parameters averaged over training (sparse pre-training)
ENCODER_SHARE = "encoder_share"  # share of N in the encoder of an encoder-decoder model
REQUIRED_COLUMNS = (PARAMS, TOKENS, LOSS)
#: Inputs a law may read besides N and D, each a column of the runs table: name -> its value
#: where a table or a forecast does not give it: another column's (every token unique: U = D; a
#: dense run: average = N) or a constant (one stream; an even encoder/decoder split).
LAW_INPUT_DEFAULTS = {UNIQUE_TOKENS: TOKENS, PARALLEL_STREAMS: 1.0, AVERAGE_PARAMS: PARAMS, ENCODER_SHARE: 0.5}
#: Name of each input's log values in a saved fit's ``constant_data`` (one per configuration).
LAW_INPUT_DATA = {
    UNIQUE_TOKENS: "log_unique",
    PARALLEL_STREAMS: "log_streams",
    AVERAGE_PARAMS: "log_average_params",
    ENCODER_SHARE: "log_encoder_share",
}
OPTIONAL_COLUMNS = (FLOPS, SEED, RUN_ID, FAMILY, STEP, *LAW_INPUT_DEFAULTS)


def law_input_default(name: str, columns):
    """The value input ``name`` takes where it is not given: ``columns[c]`` for a default column
    ``c`` (``columns`` maps column names to values), else the default constant."""
    default = LAW_INPUT_DEFAULTS[name]
    return columns[default] if isinstance(default, str) else default


#: Training FLOPs per parameter per token (C ~ 6 N D).
DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0

#: Integer version of the saved-file layout; bump on any incompatible change.
FORMAT_VERSION = 1
#: Value of the root attribute ``format`` that marks a bayes_scaling file.
FILE_MARKER = "bayes_scaling.fit"

#: Cyclic garbage collector thresholds for the processes this package starts or owns (the
#: ``bayes-scaling`` command, backtest workers). Fits keep millions of long-lived PyTensor and
#: numba objects; at Python's default (700, 10, 10) the collector rescanned them about 1,000
#: times per 240-run fit (0.55 s); at these, 14 times (0.13 s), with the same peak memory.
GC_THRESHOLDS = (50_000, 20, 10)


def installed_version(package: str = "bayes_scaling") -> str:
    """The installed version of ``package`` ("unknown" when it is not installed, e.g. this
    package run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


#: The attribute of a fit whose law changed what it samples since it was saved: its draws were
#: converted on load (bayes_scaling.forecast.loading), and made under the earlier priors.
CONVERTED_ATTRIBUTE = "converted_from_earlier_parameters"
