import json

import pytest

from essl.cli.main import main
from essl.errors import EsslError
from essl.metering.analytic import encoder_flops
from essl.metering.profile import profile_model
from essl.models import encoder_preset


@pytest.mark.parametrize(("seconds", "gmac"), [(1, 6.91), (10, 74.1)])
def test_base_encoder_macs_match_the_published_reference(seconds, gmac):
    # wav2vec2-base forward, eager attention, measured with HF transformers (REFERENCE.md)
    assert encoder_flops(encoder_preset("base"), seconds * 16000) / 2e9 == pytest.approx(
        gmac, rel=1e-3
    )


def test_profile_of_a_training_preset_reports_task_and_encoder(capsys):
    assert main(["profile", "wav2vec2-tiny", "--seconds", "1", "--repeats", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in (
        "params",
        "encoder_params",
        "param_bytes",
        "flops_per_second_audio",
        "peak_memory_bytes",
        "rtf",
    ):
        assert res[key] > 0, key
    assert res["params"] > res["encoder_params"]  # quantizer, projections, mask embedding...
    assert res["param_bytes"] == 4 * res["params"]
    row = res["per_length"][0]
    assert row["flops"] == encoder_flops(encoder_preset("tiny"), 16000)
    assert row["peak_memory_bytes"] > res["encoder_param_bytes"]  # weights + activations


def test_unknown_model_spec_is_a_clear_error():
    with pytest.raises(EsslError, match="not a training preset"):
        profile_model("no-such-thing", [1.0])
