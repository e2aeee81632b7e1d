"""``newsclf train`` and ``newsclf evaluate`` from the command line (in-process, CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from services import bbc_rows, write_labeled

from newsclf.cli import cli


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_every_command_shows_an_example_in_its_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and f"newsclf {command}" in result.output


def test_evaluate_takes_a_bare_version_and_ends_with_one_json_object(
    tiny_artifact: Path, bbc_csv: Path, tmp_path: Path
) -> None:
    data = write_labeled(tmp_path / "eval.csv", bbc_rows(40))
    result = CliRunner().invoke(cli, ["evaluate", "--model", tiny_artifact.name, "--data", str(data),
                                      "--models-dir", str(tiny_artifact.parent), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert set(out) == {"accuracy", "macro_f1", "ece", "per_class", "confusion", "unknown_labels", "n"}
    assert 0 <= out["ece"] <= 1
    assert out["n"] == 40 and out["unknown_labels"] == {}
    assert sum(map(sum, out["confusion"]["matrix"])) == 40


def test_an_unknown_version_is_one_line_and_a_non_zero_exit(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from newsclf.cli import main

    data = tmp_path / "x.csv"
    data.write_text("category,text\nsport,goal\n")
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--model", "20990101-000000-abcdef", "--data", str(data),
              "--models-dir", str(tmp_path)])
    assert exit_.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model" in err[0]


def test_a_file_with_no_usable_row_is_one_line_and_exit_code_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from newsclf.cli import main

    data = tmp_path / "empty.csv"
    data.write_text("category,text\n,\n")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", str(data), "--models-dir", str(tmp_path), "--no-register"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no usable labeled row" in err[0]
