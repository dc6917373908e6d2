import pytest

from explorer.config import ConfigError, Params, from_dict, load_params


def test_defaults_match_params_yaml():
    # params.yaml spells out the defaults; drift between the two would confuse users.
    assert load_params("params.yaml") == Params()


def test_unknown_and_mistyped_keys_are_rejected():
    with pytest.raises(ConfigError, match=r"params.yaml.env: unknown key\(s\) \['budgt'\]"):
        from_dict(Params, {"env": {"budgt": 5}}, "params.yaml")
    with pytest.raises(ConfigError, match="params.yaml.env.budget: expected int"):
        from_dict(Params, {"env": {"budget": "lots"}}, "params.yaml")
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(Params, {"grpo_typo": {}}, "params.yaml")
    with pytest.raises(ConfigError, match="data.on_error"):
        from_dict(Params, {"data": {"on_error": "ignore"}}, "params.yaml")


def test_ints_are_accepted_for_floats():
    p = from_dict(Params, {"reward": {"variant": "shaped", "cost_coef": 1}}, "p")
    assert p.reward.cost_coef == 1.0 and isinstance(p.reward.cost_coef, float)


def test_project_root_sees_through_dvc_temp_experiments(tmp_path, monkeypatch):
    from explorer.config import project_root

    monkeypatch.delenv("EXPLORER_PROJECT_ROOT", raising=False)
    copy = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpabc123"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert project_root() == (tmp_path / "repo").resolve()
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path.resolve()
    monkeypatch.setenv("EXPLORER_PROJECT_ROOT", str(copy))
    assert project_root() == copy.resolve()


def test_a_mistyped_params_path_is_an_error_not_the_defaults(tmp_path):
    with pytest.raises(ConfigError, match="params-typo.yaml: params file not found"):
        load_params(tmp_path / "params-typo.yaml")


@pytest.mark.parametrize(
    "section, values, match",
    [
        ("train", {"seeds": []}, "train.seeds"),
        ("train", {"seeds": [1, 1]}, "train.seeds"),
        ("sft", {"epochs": 0}, "sft.epochs"),
        ("grpo", {"group_size": 0}, "grpo.steps"),
        ("grpo", {"temperature": 0}, "temperature"),
        ("env", {"budget": 0}, "env.budget"),
    ],
)
def test_values_that_cannot_run_are_rejected_at_load(section, values, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(Params, {section: values}, "params.yaml")


def test_pipeline_rejects_global_options_it_would_ignore(capsys):
    from explorer.cli import main

    assert main(["--params", "other.yaml", "pipeline"]) == 2
    assert "always uses params.yaml in the project root" in capsys.readouterr().err
