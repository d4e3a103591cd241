"""The model benchmark reports the documented JSON shape (figures, never speed asserts)."""

import json

from app.bench import bench_model
from app.cli import main
from app.model.animator import Animator
from app.model.config import tiny_config


def test_bench_model_reports_the_documented_keys():
    figures = bench_model(Animator.build(tiny_config()), student_steps=20, teacher_frames=3,
                          offline_passes=2)
    for key in ("student_step_ms", "teacher_frame_ms", "offline_frame_ms"):
        assert 0 < figures[key]["p50"] <= figures[key]["p99"]
    assert figures["teacher_over_student"] > 1.0  # K network calls cost more than one
    assert figures["offline_over_student"] > 0
    assert figures["threads"] == 1 and "cores" in figures["device"]
    assert figures["teacher_steps"] == tiny_config().sampling_steps
    assert bench_model(Animator.build(tiny_config()), student_steps=5, teacher_frames=2,
                       offline_passes=1, teacher_steps=7)["teacher_steps"] == 7
    json.dumps(figures)


def test_bench_command_prints_json(capsys):
    assert main(["bench", "--json", "--steps", "20"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) >= {"device", "threads", "student_step_ms", "teacher_frame_ms",
                            "offline_frame_ms", "teacher_over_student", "offline_over_student"}
    assert figures["model"].endswith("liveface-student.safetensors")  # the shipped one


def test_student_and_teacher_are_timed_in_turns():
    """The two streams alternate (a run of one, then one of the other), so a machine's drift
    during the run reaches both; each gets exactly the count asked for, after its warm-up."""
    from app.bench import _time_in_turns

    calls: list[str] = []
    first, second = _time_in_turns(lambda: calls.append("s"), 10, lambda: calls.append("t"), 3,
                                   warmup=(2, 1))
    assert len(first) == 10 and len(second) == 3
    assert "".join(calls) == "ss" + "t" + "ssst" * 3 + "s"


def test_bench_eyes_prints_json(capsys):
    assert main(["bench", "eyes", "--json", "--frames", "20"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert "cores" in figures["device"] and figures["frames"] == 20
    for size in ("160x120", "640x480"):
        assert 0 < figures[f"pupil_{size}_ms"]["p50"] <= figures[f"pupil_{size}_ms"]["p99"]
        assert figures[f"found_{size}"] == 20  # the synthetic eye is always found
