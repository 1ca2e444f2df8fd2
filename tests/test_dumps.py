"""benchmarks/accuracy/dumps.py: the helpers every benchmark's official files share."""

from benchmarks.accuracy import infinitebench, longbench, lveval, ruler
from benchmarks.accuracy.dumps import dump_record, percent, percent_by, task_from_name
from benchmarks.accuracy.samples import Sample


def test_task_from_name():
    assert task_from_name("x/preds_passkey.rank1.jsonl", infinitebench.TASKS, prefix="preds_") == "passkey"
    assert task_from_name("hotpotqa_e.jsonl", longbench.TASKS, suffix="_e") == "hotpotqa"
    assert task_from_name("niah_single_1.jsonl", ruler.TASKS) == "niah_single_1"
    assert task_from_name("nonsense.jsonl", ruler.TASKS) is None


def test_percent_by_hand():
    assert percent([1.0, 0.0, 0.0]) == 33.33  # evaluate.py: round(100 * mean, 2)
    assert percent_by([4096, None, 2048, 4096], [1.0, 1.0, 0.0, 0.0]) == {2048: 0.0, 4096: 50.0}


def test_dump_record_keys():
    generated = Sample("ruler", "niah_single_1", "4096/0.5/0", 4096, {}, depth=0.5)
    assert dump_record(generated, {"pred": "x"}, length_key="tokens") == {
        "pred": "x", "sample_id": "4096/0.5/0", "tokens": 4096, "depth": 0.5}  # fmt: skip
    assert dump_record(generated, {"pred": "x"}, length_key=None) == {"pred": "x", "sample_id": "4096/0.5/0"}
    lv = Sample("lveval", "factrecall_en", "16k/0", 16000, {"answers": ["a"], "input": "q"}, level="16k")
    assert lveval.prediction_record(lv, "a")["sample_id"] == "16k/0"
