"""``bench --runtime server``: the figures' arithmetic on given numbers, the options refused before anything
loads, and every section run end to end on the tiny model (no timing is asserted; the real server's run is
in tests/test_team_server.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragtune.bench_server import (
    ServerBenchConfig,
    SessionRun,
    ratio,
    run_server_bench,
    server_markdown,
    session_figures,
    session_prompts,
    throughput_ratio,
)
from ragtune.cli import main
from ragtune.config import load_settings


def test_session_figures_are_throughput_percentiles_and_errors_of_the_run():
    run = SessionRun(sessions=4, latencies_ms=[100.0, 200.0, 300.0, 400.0, 1000.0], errors=["refused"], wall_s=2.0)
    figures = {f.name: f for f in session_figures(run, "server")}
    assert figures["server, 4 sessions: throughput"].value == 2.5  # 5 answered in 2 s; the failed one not counted
    assert figures["server, 4 sessions: latency p50"].value == 300.0
    assert figures["server, 4 sessions: latency p95"].value == 1000.0
    errors = figures["server, 4 sessions: errors"]
    assert errors.value == 1 and errors.target == "0" and "refused" in errors.note and errors.samples == 6


def test_the_throughput_ratio_is_server_over_lock_with_the_target_at_eight_sessions():
    lock = SessionRun(sessions=8, latencies_ms=[1.0] * 8, wall_s=4.0)
    server = SessionRun(sessions=8, latencies_ms=[1.0] * 8, wall_s=1.6)
    figure = throughput_ratio(server, lock)
    assert figure.value == pytest.approx(2.5) and figure.target == "≥ 2"
    assert throughput_ratio(server.model_copy(update={"sessions": 4}), lock).target == ""


def test_a_ratio_over_nothing_is_not_a_number_rather_than_an_error():
    assert ratio(3.0, 1.5) == 2.0
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(float("nan"), 1.0))
    assert math.isnan(SessionRun(sessions=1, latencies_ms=[], wall_s=0.0).throughput)


def test_each_session_prompt_has_its_own_context_and_question_and_they_share_only_the_system_message():
    prompts = session_prompts()
    assert len({p[-1].content.rsplit("Question: ", 1)[1] for p in prompts}) == len(prompts) >= 8
    openings = {p[-1].content.split("\n")[1] for p in prompts}  # the first fact: where prefixes part
    assert len(openings) == len(prompts) and len({p[0].content for p in prompts}) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--sessions", "1,4"], "--sessions applies only with --runtime server"),
    (["--server-url", "http://127.0.0.1:8080", "--sessions", "2"], "apply only with --runtime server"),
    (["--runtime", "server", "--adapter", "grounded-json"], "--adapter applies only to the in-process benchmark"),
    (["--runtime", "server", "--only", "overhead,speed"], "Invalid bench options"),
])
def test_options_of_the_other_runtime_are_refused_before_anything_loads(tiny_env, capsys, argv, message):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("sessions", ["0", "1,x", "65", ",", "1,2,3,4,5,6,7,8,9"])
def test_a_bad_sessions_list_is_refused_with_its_rule(capsys, sessions):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--runtime", "server", "--sessions", sessions])
    assert exit_.value.code == 2 and "comma-separated integers from 1 to 64" in capsys.readouterr().err


def test_every_section_runs_end_to_end_and_the_table_names_the_server(tiny_model: Path, data_dir):
    from ragtune.gguf.files import check_model_file
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    def load() -> LlamaCppRuntime:  # the demo's grounded prompt needs more context than the default tests'
        return LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=2048,
                               n_threads=1)

    # Two in-process copies stand for the two sides: the code path is the same, the figures mean nothing here.
    inprocess, other = load(), load()
    config = ServerBenchConfig.quick_config(repeats=1, warmup=0, sessions=[1, 2], max_tokens=4)
    try:
        report = run_server_bench(load_settings(), inprocess, other, config)
    finally:
        inprocess.close()
        other.close()
    assert {f.section for f in report.figures} == {"overhead", "sessions", "lab"}
    figure = {(f.section, f.name): f.value for f in report.figures}
    one = ("server, one request (cache off)", "in process, one request (cache off)")
    assert figure[("overhead", "server / in process")] == pytest.approx(
        figure[("overhead", one[0])] / figure[("overhead", one[1])])
    assert figure[("sessions", "server, 2 sessions: errors")] == 0
    assert figure[("sessions", "server / in process throughput, 2 sessions")] == pytest.approx(
        figure[("sessions", "server, 2 sessions: throughput")]
        / figure[("sessions", "in process (lock), 2 sessions: throughput")])
    assert all(math.isfinite(f.value) and f.value >= 0 for f in report.figures)
    lab = [f for f in report.figures if f.section == "lab"]
    assert len(lab) == 4 and all(f.samples == 1 for f in lab)
    table = server_markdown(report)
    assert "| sessions | server, 2 sessions: latency p95 |" in table and "| lab | server: at once" in table
    # the tiny model has no grounded-json adapter: its modes fail, and the table's notes say so
    assert "lab / four modes on the server, at once: 2 of 4 mode answers failed" in table
