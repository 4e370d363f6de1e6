"""Acceptance: an export built from annotations made through the services trains ORPO, DPO and KTO.

2 CPU steps each on a tiny model built offline at test time; the helpers come from tests/training/support.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exports import services
from exports import writers as W
from exports.models import Export
from tests.factories import make_export_corpus
from tests.training.support import OFFLINE, finite, run_command
from training import trainer as T


@pytest.mark.training
@pytest.mark.django_db
def test_service_annotations_export_trains_orpo_dpo_kto(
    seeded, annotator, annotator2, qa_lead, admin_user, tiny_model, settings, tmp_path, monkeypatch
):
    settings.EXPORT_ROOT = tmp_path / "exports"
    make_export_corpus([annotator, annotator2], reviewer=qa_lead)
    export = services.export_create(user=admin_user, name="acceptance", params={"eval_ratio": 0.3}, enqueue=False)
    export = services.export_build(export_id=export.pk)
    assert export.status == Export.Status.DONE, export.error
    data = Path(export.directory)
    for stem in ("preference", "kto"):
        train = list(W.iter_jsonl(data / f"{stem}.train.jsonl"))
        evals = list(W.iter_jsonl(data / f"{stem}.eval.jsonl"))
        assert train and evals
        assert not {json.dumps(r["prompt"]) for r in train} & {json.dumps(r["prompt"]) for r in evals}
        assert not {r["group_id"] for r in train} & {r["group_id"] for r in evals}

    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for method in ("orpo", "dpo", "kto"):
        output = tmp_path / method
        messages, stdout = run_command(
            f"train_{method}", "--data", str(data), "--model", str(tiny_model), "--output", str(output), "--cpu",
            "--max-steps", "2", "--batch-size", "2", "--grad-accum", "1", "--max-length", "256",
            "--logging-steps", "1", "--save-strategy", "no",
        )
        assert not [m for m in messages if T.PREFIX_WARNING in m], messages
        record = json.loads((output / T.RUN_RECORD).read_text(encoding="utf-8"))
        assert record["tokenization_warnings"] == []
        assert record["results"]["global_step"] == 2, method
        losses = [e["loss"] for e in record["results"]["log_history"] if "loss" in e]
        assert len(losses) == 2 and all(finite(x) for x in losses), (method, losses)
        assert record["data"]["manifest_sha256"] == export.manifest_sha256

        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(output)
        tokenizer = AutoTokenizer.from_pretrained(output)
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": "Cześć"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
        with torch.no_grad():
            assert torch.isfinite(model(input_ids=ids).logits).all()

    rebuilt = services.export_build(export_id=export.pk)
    assert rebuilt.manifest_sha256 == export.manifest_sha256
