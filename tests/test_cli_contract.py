"""Each step's command line: a flag the rule must pass is required, so a rule that forgets one fails at
once, naming it, instead of running with a default nobody chose."""

import importlib

import pytest

FULL = {
    "labels": ["--images", "i", "--labels", "l", "--rejected", "r"],
    "splits": [
        "--labels",
        "l",
        "--out-train",
        "a",
        "--out-val",
        "b",
        "--out-test",
        "c",
        "--train-val-size",
        "5",
        "--val-fraction",
        "0.2",
        "--age-bins",
        "0,117",
        "--seed",
        "1",
    ],
    "preprocess": ["--labels", "l", "--pixels", "p", "--split", "s", "--out", "o"],
    "extract": ["--archive", "a", "--out", "o", "--max-gb", "2", "--max-members", "100000"],
    "download": ["--url", "u", "--out", "o"],
    "evaluate": [
        "--model",
        "m",
        "--images",
        "i",
        "--split",
        "s",
        "--train-split",
        "t",
        "--age-bins",
        "0,117",
        "--predictions",
        "p",
        "--metrics",
        "m",
    ],
    "comparison": [
        "--info",
        "i",
        "--val-metrics",
        "v",
        "--test-metrics",
        "t",
        "--published",
        "p",
        "--csv",
        "c",
        "--html",
        "h",
    ],
}
CASES = [(m, flag) for m, argv in FULL.items() for flag in argv[::2]]


@pytest.mark.parametrize("module,flag", CASES)
def test_a_missing_required_flag_is_named(module, flag, capsys):
    argv = FULL[module]
    i = argv.index(flag)
    main = importlib.import_module(f"workflow_scripts.{module}").main
    with pytest.raises(SystemExit) as err:
        main(argv[:i] + argv[i + 2 :])
    assert err.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(f"error: the following arguments are required: {flag}")
    )
