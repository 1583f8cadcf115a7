"""Settings: defaults < TOML file < TARGETING_* environment < command line."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from targeting.config import (
    DEFAULT_MODEL,
    EmbedConfig,
    MapConfig,
    RiskConfig,
    Settings,
    SignalConfig,
    _coerce,
    load_settings,
)

NO_ENV: dict[str, str] = {}


def _toml(tmp_path, text: str):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def test_defaults():
    s = load_settings(environ=NO_ENV)
    assert s == Settings()
    assert s.embed.model == DEFAULT_MODEL == "default"
    assert s.embed.max_seq_length == 128
    assert s.map.sample_size == 20_000
    assert s.map.min_cluster_size == 0
    assert s.map.taxonomy == ""
    assert s.signals.near_duplicate_sim == pytest.approx(0.95)
    assert s.risk.fp_budget == pytest.approx(0.01)
    assert s.risk.allowlist == ()
    assert s.ingest.max_bad_share == pytest.approx(0.05)
    assert set(s.to_dict()) == {"ingest", "embed", "map", "signals", "risk", "feedback", "nightly", "scaleout", "shifts"}
    assert s.shifts.shift_share == pytest.approx(0.4) and s.shifts.releases == ()
    assert s.scaleout.engine == "local" and s.embed.device == "cpu"
    assert s.nightly.window_days == 7 and s.embed.int8 is False


def test_environment_is_ignored_when_environ_is_given(monkeypatch):
    monkeypatch.setenv("TARGETING_EMBED__BATCH_SIZE", "7")
    assert load_settings(environ=NO_ENV).embed.batch_size == 64
    assert load_settings().embed.batch_size == 7  # environ=None reads os.environ


def test_toml_file_overrides_defaults(tmp_path):
    path = _toml(
        tmp_path,
        '[embed]\nmodel = "/models/x"\nbatch_size = 16\nprogress = false\n'
        "[map]\nsample_size = 500\ncontext_weight = 1\n"
        '[risk]\nallowlist = ["acc-1", "acc-2"]\n',
    )
    s = load_settings(path, environ=NO_ENV)
    assert s.embed.model == "/models/x"
    assert s.embed.batch_size == 16
    assert s.embed.progress is False
    assert s.map.sample_size == 500
    assert isinstance(s.map.context_weight, float) and s.map.context_weight == 1.0
    assert s.risk.allowlist == ("acc-1", "acc-2")
    # untouched settings keep their defaults
    assert s.embed.max_seq_length == 128
    assert s.signals == SignalConfig()


def test_environment_overrides_toml(tmp_path):
    path = _toml(tmp_path, '[embed]\nmodel = "from-file"\nbatch_size = 16\n')
    env = {
        "TARGETING_EMBED__MODEL": "from-env",
        "TARGETING_MAP__SEED": "42",
        "TARGETING_EMBED__PROGRESS": "no",
        "TARGETING_SIGNALS__TEMPLATE_JACCARD": "0.7",
        "TARGETING_IGNORED": "no double underscore",
        "OTHER_EMBED__MODEL": "wrong prefix",
    }
    s = load_settings(path, environ=env)
    assert s.embed.model == "from-env"
    assert s.embed.batch_size == 16  # from the file
    assert s.map.seed == 42 and isinstance(s.map.seed, int)
    assert s.embed.progress is False
    assert s.signals.template_jaccard == pytest.approx(0.7)


def test_environment_names_are_case_insensitive():
    s = load_settings(environ={"TARGETING_EMBED__MAX_SEQ_LENGTH": "256"})
    assert s.embed.max_seq_length == 256


def test_command_line_beats_environment_and_file(tmp_path):
    path = _toml(tmp_path, '[embed]\nmodel = "from-file"\n[map]\nknn = 3\n')
    s = load_settings(
        path,
        overrides={"embed": {"model": "from-cli"}, "map": {"umap_dim": "8"}},
        environ={"TARGETING_EMBED__MODEL": "from-env", "TARGETING_MAP__KNN": "4"},
    )
    assert s.embed.model == "from-cli"
    assert s.map.knn == 4  # env beats file, no CLI value
    assert s.map.umap_dim == 8


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"overrides": {"bogus": {"x": 1}}}, "bogus"),
        ({"overrides": {"embed": {"modle": "x"}}}, "modle"),
        ({"environ": {"TARGETING_NOSUCH__MODEL": "x"}}, "nosuch"),
        ({"environ": {"TARGETING_EMBED__NOSUCHKEY": "x"}}, "nosuchkey"),
    ],
)
def test_unknown_section_or_key_raises_naming_it(kwargs, needle):
    kwargs.setdefault("environ", NO_ENV)
    with pytest.raises(ValueError, match=needle):
        load_settings(**kwargs)


def test_unknown_key_in_toml_names_file_and_key(tmp_path):
    path = _toml(tmp_path, "[map]\nsample_sise = 3\n")
    with pytest.raises(ValueError) as info:
        load_settings(path, environ=NO_ENV)
    assert "sample_sise" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_section_in_toml_raises(tmp_path):
    path = _toml(tmp_path, "[embedding]\nmodel = 'x'\n")
    with pytest.raises(ValueError, match="embedding"):
        load_settings(path, environ=NO_ENV)


@pytest.mark.parametrize("section", ["digest", "to_dict"])
def test_section_named_like_a_method_is_unknown(section):
    with pytest.raises(ValueError, match=section):
        load_settings(overrides={section: {"x": 1}}, environ=NO_ENV)


def test_bad_value_raises_value_error():
    with pytest.raises(ValueError):
        load_settings(overrides={"map": {"sample_size": "many"}}, environ=NO_ENV)


def test_ingest_validation_applies_to_overrides():
    with pytest.raises(ValueError, match="max_bad_share"):
        load_settings(overrides={"ingest": {"max_bad_share": "2"}}, environ=NO_ENV)


def test_digest_is_stable_and_changes_with_settings():
    a = load_settings(environ=NO_ENV).digest()
    b = load_settings(environ=NO_ENV).digest()
    assert a == b
    assert len(a) == 16 and int(a, 16) >= 0
    changed = {
        load_settings(overrides={"map": {"seed": 1}}, environ=NO_ENV).digest(),
        load_settings(overrides={"embed": {"model": "other"}}, environ=NO_ENV).digest(),
        load_settings(overrides={"risk": {"allowlist": "x"}}, environ=NO_ENV).digest(),
        load_settings(environ={"TARGETING_SIGNALS__MAX_PROMPTS_PER_ACCOUNT": "401"}).digest(),
    }
    assert a not in changed
    assert len(changed) == 4
    # the same value given in different ways is the same setting
    assert load_settings(overrides={"map": {"seed": "1"}}, environ=NO_ENV).digest() == load_settings(
        environ={"TARGETING_MAP__SEED": "1"}
    ).digest()


def test_tuple_coercion_from_comma_string():
    s = load_settings(environ={"TARGETING_RISK__ALLOWLIST": " acc-1, acc-2 ,,acc-3 "})
    assert s.risk.allowlist == ("acc-1", "acc-2", "acc-3")
    assert load_settings(environ={"TARGETING_RISK__ALLOWLIST": ""}).risk.allowlist == ()
    assert _coerce(["a", "b"], ()) == ("a", "b")


@pytest.mark.parametrize(
    "text, expected",
    [("1", True), ("true", True), ("YES", True), (" on ", True), ("0", False), ("false", False), ("off", False)],
)
def test_bool_coercion(text, expected):
    assert _coerce(text, False) is expected
    assert load_settings(environ={"TARGETING_EMBED__PROGRESS": text}).embed.progress is expected


def test_coerce_keeps_types():
    assert _coerce("3", 0) == 3 and isinstance(_coerce("3", 0), int)
    assert _coerce("0.5", 0.1) == 0.5
    assert _coerce(5, "") == "5"


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=8), max_size=6))
def test_tuple_coercion_round_trips_joined_values(items):
    assert _coerce(", ".join(items), ()) == tuple(items)


def test_settings_are_frozen():
    s = load_settings(environ=NO_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.embed.model = "x"  # type: ignore[misc]
    assert isinstance(s.embed, EmbedConfig) and isinstance(s.map, MapConfig) and isinstance(s.risk, RiskConfig)


def test_model_releases_come_from_a_toml_list(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('[shifts]\nreleases = ["model-x=2026-11-14", "model-y = 2026-12-01"]\nshift_share = 0.5\n')
    s = load_settings(path, environ=NO_ENV)
    assert [(n, d.isoformat()) for n, d in s.shifts.release_dates()] == [("model-x", "2026-11-14"),
                                                                          ("model-y", "2026-12-01")]
    assert s.shifts.shift_share == pytest.approx(0.5)
    path.write_text('[shifts]\nreleases = ["=2026-11-14"]\n')
    with pytest.raises(ValueError, match="no model name"):
        load_settings(path, environ=NO_ENV)
