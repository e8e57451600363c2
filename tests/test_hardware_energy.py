"""synoploss.hardware.energy: energy per inference, worked out by hand."""
import pytest

from synoploss.hardware.energy import ENERGY_MODELS, MAC_PJ_45NM, energy_columns, energy_model


@pytest.mark.parametrize("name,pj", [("loihi", 23.6), ("truenorth", 2.5), ("spinnaker", 45.0),
                                     ("spinnaker2", 10.0), ("tianjic", 1.54)])
def test_published_figures(name, pj):
    model = energy_model(name.upper())
    assert model.pj_per_synop == pj and model.source and model is ENERGY_MODELS[name]


def test_energy_per_inference_by_hand():
    # 2e6 SynOps on Loihi: 2e6 x 23.6 pJ = 47.2 µJ; plus 1e5 input MACs x 4.6 pJ = 0.46 µJ
    row = energy_columns(energy_model("loihi"), 2e6, input_macs=1e5)
    assert row["energy_uj"] == pytest.approx(47.2 + 0.46)
    assert row["energy_model"] == "loihi" and row["pj_per_mac"] == MAC_PJ_45NM


@pytest.mark.parametrize("spec,synop,mac", [("12.5", 12.5, MAC_PJ_45NM), ("12.5,0.9", 12.5, 0.9)])
def test_explicit_values(spec, synop, mac):
    model = energy_model(spec)
    assert (model.pj_per_synop, model.pj_per_mac) == (synop, mac)
    assert model.energy_pj(10, 10) == pytest.approx(10 * synop + 10 * mac)


@pytest.mark.parametrize("spec", ["foo", "1,2,3", "-1", "0"])
def test_bad_specs_name_the_choices(spec):
    with pytest.raises(ValueError, match="energy model"):
        energy_model(spec)


@pytest.mark.parametrize("spec, shown", [
    ("foo", "one of loihi, truenorth"), ("-5", "need pJ per SynOp > 0")])
def test_the_flag_shows_why_a_value_is_refused(spec, shown, capsys):
    import argparse

    from synoploss.hardware.energy import add_energy_flag
    parser = argparse.ArgumentParser()
    add_energy_flag(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--energy_model", spec])
    assert shown in capsys.readouterr().err  # not argparse's bare "invalid value"
