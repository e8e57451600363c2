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


@pytest.mark.parametrize("name,milliwatts", [("speck", 1.170), ("speck_nodvs", 0.480)])
def test_speck_idle_power_is_the_sum_of_its_measured_tracks(name, milliwatts):
    """sinabs' power-monitoring notebook, Speck2f devkit idle: IO 61.7, RAM 51.7, logic
    367.0, DVS pixel digital 78.9, pixel analog 610.9 µW; without the two pixel rails
    61.7 + 51.7 + 367.0 = 480.4 µW."""
    tracks = dict(io=61.679, ram=51.724, logic=366.991, pixel_digital=78.871,
                  pixel_analog=610.879)
    measured = sum(tracks.values()) if name == "speck" else \
        tracks["io"] + tracks["ram"] + tracks["logic"]
    model = energy_model(name)
    assert model.static_mw == pytest.approx(measured / 1000, abs=5e-4) == milliwatts
    assert model.pj_per_synop == 0 and "not published" in model.source
    assert "power_monitoring.ipynb" in model.source


@pytest.mark.parametrize("spec,dynamic_uj", [("speck", 0.0), ("speck,5", 5.0)])
def test_static_and_dynamic_parts_by_hand(spec, dynamic_uj):
    # 1e6 SynOps; 1.17 mW for 0.2 s = 234 µJ; with 5 pJ per SynOp + 5 µJ
    row = energy_columns(energy_model(spec), 1e6, seconds=0.2)
    assert row["energy_static_uj"] == pytest.approx(234.0)
    assert row["energy_dynamic_uj"] == pytest.approx(dynamic_uj)
    assert row["energy_uj"] == pytest.approx(234.0 + dynamic_uj)
    assert (row["static_mw"], row["energy_seconds"]) == (1.17, 0.2)


def test_other_models_say_they_have_no_static_term():
    for name in ("loihi", "truenorth", "spinnaker", "spinnaker2", "tianjic"):
        model = ENERGY_MODELS[name]
        assert model.static_mw == 0 and "no static term" in model.source
    row = energy_columns(ENERGY_MODELS["loihi"], 1e6, seconds=0.2)
    assert row["energy_static_uj"] == 0 and row["energy_uj"] == row["energy_dynamic_uj"]


def test_a_static_term_without_a_time_is_refused():
    with pytest.raises(ValueError, match="--latency SECONDS"):
        energy_columns(energy_model("speck"), 1e6)


@pytest.mark.parametrize("spec", ["speck,0", "speck,-2", "speck,x"])
def test_a_bad_speck_energy_per_synop_is_refused(spec):
    with pytest.raises(ValueError, match="speck,PJ_PER_SYNOP"):
        energy_model(spec)
