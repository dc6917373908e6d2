from explorer.config import TrackingConfig
from explorer.tracking import stage_run


def test_a_resumed_stage_whose_run_is_gone_logs_into_a_new_run(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db")
    with stage_run(cfg, "grpo-seed0", {"stage": "grpo"}) as run:
        run.log_metrics({"reward/mean": 0.5}, step=1)
    with stage_run(cfg, "grpo-seed0", {"stage": "grpo"}, run_id=run.run_id) as again:
        again.log_metrics({"reward/mean": 0.6}, step=2)
    assert again.run_id == run.run_id  # a live run is continued

    client = MlflowClient(tracking_uri=cfg.uri)
    client.delete_run(run.run_id)
    with stage_run(cfg, "grpo-seed0", {"stage": "grpo"}, run_id=run.run_id) as fresh:
        fresh.log_metrics({"reward/mean": 0.7}, step=3)
    assert fresh.run_id != run.run_id
    assert f"MLflow run {run.run_id} of the interrupted stage is gone" in capsys.readouterr().err
    assert client.get_run(fresh.run_id).info.status == "FINISHED"
    with stage_run(cfg, "x", run_id="0123456789abcdef0123456789abcdef") as unknown:
        pass
    assert client.get_run(unknown.run_id).info.status == "FINISHED"
