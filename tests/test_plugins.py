"""The registry's plugins: the example package (examples/regbench-example-plugin, installed by
`make install`), and plugins that fail to import, take a built-in's name or return a wrong field."""

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from regbench import registry
from regbench.names import parse

pytest.importorskip("regbench_example", reason="the example plugin is not installed (`make install` does it)")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Install entry points (group -> [(name, 'module:attribute')]) from modules written here."""

    def install(modules: dict[str, str], entries: dict[str, list[tuple[str, str]]]):
        for name, source in modules.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        points = {g: [EntryPoint(n, v, g) for n, v in e] for g, e in entries.items()}
        monkeypatch.setattr(registry, "entry_points", lambda group: points.get(group, []))
        monkeypatch.setattr(registry, "BROKEN", {})
        registry.backbones.cache_clear()
        registry.methods.cache_clear()

    yield install
    registry.backbones.cache_clear()
    registry.methods.cache_clear()


def test_the_example_plugin_is_listed_beside_the_built_ins():
    listing = subprocess.run(
        [sys.executable, "-m", "regbench", "models"], capture_output=True, text=True, check=True
    ).stdout
    assert "rescnn         " in listing  # its model, with parameter counts
    records = {line.split()[0]: line for line in listing.splitlines() if line.startswith("  ")}
    plugin = "[plugin regbench-example-plugin]"
    assert records["rescnn"].split()[1] == "residual" and plugin in records["rescnn"]
    assert records["demons"].split()[1] == "Thirion's" and plugin in records["demons"]
    assert "[plugin" not in records["fireants"] and "3D" in records["unigradicon"]


def test_import_import_fails_collision_and_bad_record_are_named_and_left_out(plugins, capsys):
    plugins(
        {
            "clash": """
                from regbench.registry import Backbone
                CNN = Backbone("cnn", "another cnn", "clash:nothing", "clash:nothing")
                NOT_A_RECORD = 3
            """,
            "ok_method": """
                from regbench.registry import Method
                ZERO = Method("zero", "zeros", "regbench.baselines.identity:register_pair")
            """,
        },
        {
            "regbench.backbones": [("missing", "no_such_module:X"), ("cnn2", "clash:CNN")],
            "regbench.methods": [("odd", "clash:NOT_A_RECORD"), ("zero", "ok_method:ZERO")],
        },
    )
    assert registry.backbones()["cnn"].plugin is None and "missing" not in registry.backbones()
    assert registry.methods()["zero"].plugin == "ok_method:ZERO"  # the rest is unaffected
    err = capsys.readouterr().err
    assert "plugin no_such_module:X (entry point 'missing' in regbench.backbones): cannot be imported" in err
    assert "the name 'cnn' is taken by regbench" in err and "clash:NOT_A_RECORD is a int" in err
    with pytest.raises(ValueError, match=r"unknown backbone 'missing' .*\(plugin .*ModuleNotFoundError"):
        parse("missing-DWP")


def test_a_plugin_method_returning_a_wrong_field_is_named(plugins, tiny_manifest, tmp_path):
    from regbench.register import register_method

    flat = """
        import numpy as np
        from regbench.registry import Method
        FLAT = Method("flat", "no channel axis", "flat:register_pair")
        def register_pair(fixed, moving, spacing, settings, seed):
            return np.zeros(fixed.shape)
    """
    plugins({"flat": flat}, {"regbench.methods": [("flat", "flat:FLAT")]})
    with pytest.raises(ValueError, match=r"method 'flat' of plugin flat:FLAT: returned a field of shape"):
        register_method(tiny_manifest, "flat", {}, 0, tmp_path / "flat.npz")
    assert not (tmp_path / "flat.npz").exists()


def test_a_methods_start_up_runs_once_before_the_pairs_and_outside_their_runtime(
    plugins, tiny_manifest, tmp_path
):
    """``prepare`` stands for loading (imports, weights): the job pays it once, and the first
    pair's runtime must not include it, as a model's loading is not in its first pair's."""
    from regbench.io import FieldStore
    from regbench.register import register_method

    slow_start = """
        import time
        import numpy as np
        from regbench.registry import Method
        SLOW = Method("slow", "loads for 2 s", "slow:register_pair", prepare="slow:prepare")
        PREPARED = []
        def prepare(settings):
            time.sleep(2.0)
            PREPARED.append(settings)
        def register_pair(fixed, moving, spacing, settings, seed):
            assert PREPARED == [settings], "registered before its start-up, or started twice"
            return np.zeros((fixed.ndim, *fixed.shape))
    """
    plugins({"slow": slow_start}, {"regbench.methods": [("slow", "slow:SLOW")]})
    register_method(tiny_manifest, "slow", {"k": 1}, 0, tmp_path / "slow.npz")
    runtimes = [cost["runtime_s"] for cost in FieldStore(tmp_path / "slow.npz").costs.values()]
    assert len(runtimes) > 1 and max(runtimes) < 1.0


@pytest.mark.parametrize("shape", [(48, 64), (24, 32, 20)])
def test_the_example_demons_registers_a_known_shift(shape):
    from regbench_example.demons import register_pair

    from tests.shifts import mean_inside, shifted_pair

    shift = [1.5, -2.0, 1.0][: len(shape)]
    fixed, moving = shifted_pair(shape, shift)
    disp = register_pair(fixed, moving, (1.0,) * len(shape), {}, 0)
    np.testing.assert_allclose(mean_inside(disp), shift, atol=0.15)


def test_a_plugin_that_exits_at_import_is_left_out_and_an_interrupt_still_stops(plugins, capsys):
    plugins(
        {
            "quits": "import sys\nsys.exit(3)\n",
            "ok_method": """
                from regbench.registry import Method
                ZERO = Method("zero", "zeros", "regbench.baselines.identity:register_pair")
            """,
        },
        {"regbench.methods": [("quits", "quits:METHOD"), ("zero", "ok_method:ZERO")]},
    )
    assert "zero" in registry.methods() and "quits" not in registry.methods()
    assert (
        "entry point 'quits' in regbench.methods): cannot be imported (SystemExit: 3)"
        in capsys.readouterr().err
    )
    plugins({"interrupted": "raise KeyboardInterrupt\n"}, {"regbench.methods": [("x", "interrupted:X")]})
    with pytest.raises(KeyboardInterrupt):
        registry.methods()
