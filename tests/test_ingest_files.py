"""Unit tests for targeting.ingest.files: files, folders and globs -> the sorted list of
supported input files (all made in tmp_path; nothing is read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from targeting.errors import InputError
from targeting.ingest.files import SUPPORTED_TEXT, expand_inputs, format_of


def touch(root: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
        out.append(p)
    return out


@pytest.mark.parametrize("name,fmt", [
    ("a.parquet", "parquet"), ("a.pq", "parquet"), ("A.PARQUET", "parquet"),
    ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.jsonl.gz", "jsonl"), ("a.ndjson.gz", "jsonl"),
    ("a.csv", "csv"), ("a.CSV.GZ", "csv"),
    ("a.json", None), ("a.txt", None), ("a.gz", None), ("csv", None), ("a.csv.bak", None),
])
def test_format_of(name, fmt):
    assert format_of(Path(name)) == fmt


def test_single_file_is_returned_absolute(tmp_path, monkeypatch):
    touch(tmp_path, "a.csv")
    monkeypatch.chdir(tmp_path)
    out = expand_inputs("a.csv")  # a single str is accepted, not iterated per character
    assert out == [tmp_path.resolve() / "a.csv"]
    assert out[0].is_absolute()


def test_folder_is_searched_recursively_other_types_ignored(tmp_path):
    touch(tmp_path, "b.parquet", "sub/a.jsonl", "sub/deep/c.csv.gz", "notes.txt", "sub/x.json")
    out = expand_inputs([tmp_path])
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in out] == [
        "b.parquet", "sub/a.jsonl", "sub/deep/c.csv.gz"]


def test_folder_skips_hidden_and_underscore_entries(tmp_path):
    touch(tmp_path, "keep.parquet", ".hidden.parquet", "_SUCCESS.csv", ".git/x.csv",
          "_tmp/y.parquet", "sub/.z.jsonl", "sub/ok.jsonl")
    out = expand_inputs([tmp_path])
    assert [p.name for p in out] == ["keep.parquet", "ok.jsonl"]


def test_folder_under_a_hidden_parent_is_still_searched(tmp_path):
    # only entries inside the named folder are judged, not the folder's own path
    touch(tmp_path, ".data/_part/a.csv")
    assert [p.name for p in expand_inputs([tmp_path / ".data" / "_part"])] == ["a.csv"]


def test_named_hidden_file_is_accepted(tmp_path):
    (f,) = touch(tmp_path, ".hidden.csv")
    assert expand_inputs([f]) == [f.resolve()]


def test_folder_without_input_files_is_an_error(tmp_path):
    touch(tmp_path, "readme.txt", ".x.csv")
    with pytest.raises(InputError, match="folder holds no input files"):
        expand_inputs([tmp_path])


def test_unsupported_extension_error_names_the_path(tmp_path):
    (f,) = touch(tmp_path, "data.json")
    with pytest.raises(InputError) as err:
        expand_inputs([f])
    assert str(f) in str(err.value)
    assert "unsupported file type" in str(err.value)
    assert SUPPORTED_TEXT in str(err.value)


@pytest.mark.parametrize("item", ["", "   "])
def test_empty_path_is_an_error(item):
    with pytest.raises(InputError, match="empty input path"):
        expand_inputs([item])


def test_missing_path_is_an_error(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="no such file or folder") as err:
        expand_inputs([missing])
    assert str(missing) in str(err.value)


def test_glob_keeps_supported_matches(tmp_path):
    touch(tmp_path, "a.csv", "b.csv", "c.txt", "d.parquet", "sub/e.csv")
    out = expand_inputs([str(tmp_path / "*.csv")])
    assert [p.name for p in out] == ["a.csv", "b.csv"]  # not recursive without **


def test_glob_question_mark_and_brackets(tmp_path):
    touch(tmp_path, "p1.csv", "p2.csv", "p10.csv", "q1.csv")
    assert [p.name for p in expand_inputs([str(tmp_path / "p?.csv")])] == ["p1.csv", "p2.csv"]
    assert [p.name for p in expand_inputs([str(tmp_path / "[pq]1.csv")])] == ["p1.csv", "q1.csv"]


def test_double_star_glob_recurses(tmp_path):
    touch(tmp_path, "top.jsonl", "a/b/deep.jsonl", "a/other.csv")
    out = expand_inputs([str(tmp_path / "**" / "*.jsonl")])
    assert [p.name for p in out] == ["deep.jsonl", "top.jsonl"]


def test_glob_matching_folders_expands_them(tmp_path):
    touch(tmp_path, "day1/a.csv", "day2/b.parquet", "day2/_SUCCESS.csv", "other/c.csv")
    out = expand_inputs([str(tmp_path / "day*")])
    assert [p.name for p in out] == ["a.csv", "b.parquet"]


def test_glob_without_supported_match_is_an_error(tmp_path):
    touch(tmp_path, "a.txt")
    for pattern in ("*.txt", "*.csv"):
        with pytest.raises(InputError, match="matches no input files"):
            expand_inputs([str(tmp_path / pattern)])


def test_output_is_sorted_and_unique_across_inputs(tmp_path):
    a, b = touch(tmp_path, "b/z.csv", "a/y.csv")
    out = expand_inputs([a, tmp_path, str(tmp_path / "*" / "*.csv"), b, tmp_path / "a" / ".." / "b" / "z.csv"])
    assert out == sorted([a.resolve(), b.resolve()], key=str)
    assert len(out) == len(set(out)) == 2


def test_one_bad_input_fails_the_whole_call(tmp_path):
    (ok,) = touch(tmp_path, "ok.csv")
    with pytest.raises(InputError):
        expand_inputs([ok, tmp_path / "missing.csv"])


def test_home_is_expanded(tmp_path, monkeypatch):
    touch(tmp_path, "in/a.csv")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert expand_inputs(["~/in"]) == [(tmp_path / "in" / "a.csv").resolve()]


def test_symlinked_duplicates_collapse(tmp_path):
    (real,) = touch(tmp_path, "data/a.csv")
    (tmp_path / "link.csv").symlink_to(real)
    assert expand_inputs([real, tmp_path / "link.csv"]) == [real.resolve()]
