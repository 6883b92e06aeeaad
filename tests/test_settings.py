"""Settings come from options, YIZHAN_* variables and a TOML file, strongest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from yizhan.settings import Settings, load_settings


def test_defaults_work_on_one_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("YIZHAN_PORT", "YIZHAN_DATA_DIR", "YIZHAN_CONFIG", "YIZHAN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.port == 8080 and settings.host == "127.0.0.1"
    assert settings.sqlalchemy_url.endswith("yizhan-data/yizhan.db")
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert settings.endpoint == "127.0.0.1:8080" and settings.role == "all"


def test_option_beats_environment_beats_toml(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "yizhan.toml"
    toml.write_text('port = 7000\nhost = "0.0.0.0"\nlanguage = "zh"\n'
                    'database_url = "postgresql+asyncpg://u@db/yz"\n')
    monkeypatch.setenv("YIZHAN_CONFIG", str(toml))
    monkeypatch.setenv("YIZHAN_PORT", "7100")
    settings = load_settings(port=None)
    assert (settings.port, settings.host, settings.language) == (7100, "0.0.0.0", "zh")
    assert settings.endpoint == "127.0.0.1:7100"
    assert settings.sqlalchemy_url == "postgresql+asyncpg://u@db/yz"
    assert load_settings(port=7200).port == 7200


def test_bad_values_and_missing_files_are_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIZHAN_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        load_settings()
    monkeypatch.delenv("YIZHAN_PORT")
    with pytest.raises(FileNotFoundError):
        load_settings(config_file=tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="unknown_setting"):
        toml = tmp_path / "bad.toml"
        toml.write_text("unknown_setting = 1\n")
        load_settings(config_file=toml)


def test_every_setting_is_documented() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"`{name}`" in docs, f"docs/configuration.md does not mention {name}"
