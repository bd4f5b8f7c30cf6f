"""The public API: one option table behind every signature and docstring, settings, errors."""

import inspect
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import fastei
from fastei.estimators import api
from fastei.estimators.options import OPTIONS

ESTIMATORS = [getattr(api, name) for name in api.__all__ if callable(getattr(api, name))
              and not isinstance(getattr(api, name), type)]


def _documented_parameters(function):
    section = inspect.getdoc(function).split("Parameters\n----------\n", 1)[1]
    section = re.split(r"\n\n[A-Z][a-z]+( [A-Z][a-z]+)?\n-+\n", section, maxsplit=1)[0]
    names = []
    for line in section.splitlines():
        match = re.match(r"^(\w+(?:, \w+)*) : ", line)
        if match:
            names.extend(match.group(1).split(", "))
    return names


@pytest.mark.parametrize("function", ESTIMATORS + [fastei.converge_by_doubling,
                                                   fastei.extrapolate,
                                                   fastei.register_activation],
                         ids=lambda f: f.__name__)
def test_every_public_signature_matches_its_docstring(function):
    assert list(inspect.signature(function).parameters) == _documented_parameters(function)


@pytest.mark.parametrize("function", ESTIMATORS, ids=lambda f: f.__name__)
def test_estimators_share_keywords_and_defaults(function):
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        if name not in ("samples", "method"):
            assert parameter.default == OPTIONS[name].default, name
    with pytest.raises(TypeError, match=rf"{function.__name__}\(\) got an unexpected keyword "
                                        r"argument 'bins'; it takes span, "):
        function(np.eye(2), bins=4)


def test_import_works_without_docstrings():
    result = subprocess.run([sys.executable, "-OO", "-c", "import fastei; print(fastei.ei.__doc__)"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


def test_matrices_are_oriented_like_the_weights():
    weights = np.zeros((2, 3))
    weights[1, 0] = 4.0   # the only edge: input 0 -> output 1
    for function in (fastei.ei_parts_matrix, fastei.sensitivity_matrix):
        for method in ("sampled", "exact"):
            matrix = function(weights, method=method, samples=20_000)
            assert matrix.shape == weights.shape
            assert np.unravel_index(matrix.argmax(), matrix.shape) == (1, 0)
            # Other edges: zero, or the plug-in bias (B - 1)**2 / (2 N ln 2) = 1.8e-3 bits.
            assert matrix[1, 0] > 1.0 and np.delete(matrix.ravel(), 3).max() < 3e-3


def test_measures_repr_is_one_short_line_and_to_dict_is_json():
    m = fastei.measure(np.random.default_rng(0).uniform(-1, 1, (6, 25)), samples=5000,
                       sensitivity_samples=100, seed=4, groups=[([0, 1], [2])])
    text = repr(m)
    assert "\n" not in text and len(text) < 200 and "edges=6x25" in text
    record = json.loads(json.dumps(m.to_dict()))
    assert record["ei"] == m.ei and np.array_equal(record["ei_parts_matrix"], m.ei_parts_matrix)
    assert record["group_ei"] == [{"inputs": [0, 1], "outputs": [2], "ei": m.group_ei[((0, 1), (2,))]}]
    settings = record["settings"]
    assert (settings["samples"], settings["seed"], settings["in_bins"], settings["method"]) == \
        (5000, 4, 8, "sampled")


def test_a_fresh_seed_is_recorded_and_reproduces_the_value():
    weights = np.random.default_rng(1).uniform(-2, 2, (3, 3))
    m = fastei.measure(weights, samples=3000, sensitivity_samples=100, seed=None)
    again = fastei.measure(weights, samples=3000, sensitivity_samples=100,
                           seed=m.settings["seed"])
    assert (again.ei, again.ei_parts, again.sensitivity) == (m.ei, m.ei_parts, m.sensitivity)


def test_sample_rules_refuse_wide_joint_ei_and_converge_narrow():
    wide = np.random.default_rng(2).uniform(-1, 1, (6, 25))
    for rule in ("auto", "extrapolate"):
        with pytest.raises(ValueError, match=r"cannot converge plug-in EI here: the span has "
                                             r"3\.78e\+22 input cells.*method='stratified'"):
            fastei.ei(wide, samples=rule)
    narrow = np.array([[3.0, -2.0]])
    auto = fastei.ei(narrow, samples="auto")
    assert auto == fastei.converge_by_doubling(lambda n: fastei.ei(narrow, samples=n)).value
    # 64 cells, at least 200,000 samples: within the plug-in bias of the exact value.
    assert abs(auto - fastei.ei(narrow, method="exact")) < 64 * 8 / (2 * 200_000 * np.log(2))


@pytest.mark.parametrize("function", [fastei.measure, fastei.group_ei, fastei.degeneracy,
                                      fastei.phi_feedforward, fastei.ei_parts_matrix])
def test_functions_without_sample_rules_say_so(function):
    with pytest.raises(ValueError, match=r"samples must be a number; got 'auto'"):
        function(np.eye(2), samples="auto")


@pytest.mark.parametrize("call", [
    lambda w: fastei.ei(w, method="stratified", overflow="drop"),
    lambda w: fastei.measure(w, method="converged", overflow="drop"),
    lambda w: fastei.phi_feedforward(w, method="converged", overflow="drop"),
])
def test_drop_is_refused_by_the_stratified_estimator(call):
    with pytest.raises(ValueError, match=r"overflow='drop' needs method='sampled': the "
                                         "stratified estimator keeps every input cell"):
        call(np.ones((2, 3)))


def test_converged_measures_keep_drop_where_exact():
    weights = np.array([[6.0, -1.0]])
    m = fastei.measure(weights, method="converged", overflow="drop", out_range=(0.2, 0.8))
    assert m.ei == fastei.ei(weights, method="exact", overflow="drop", out_range=(0.2, 0.8))
    assert m.ei != fastei.ei(weights, method="exact", out_range=(0.2, 0.8))


def test_activation_names_ignore_case():
    fastei.register_activation(fastei.Activation("SoftSign", lambda z: z / (1 + np.abs(z)),
                                                  (-1.0, 1.0)), replace=True)
    assert fastei.get_activation("softsign") is fastei.get_activation("SoftSign")
    assert "SoftSign" in fastei.available_activations()
    layer = fastei.Dense(np.ones((1, 1)), activation="SOFTSIGN")
    assert layer.activation.name == "SoftSign"
    with pytest.raises(ValueError, match=r"'TANH' is already registered as 'tanh' \(names "
                                         r"ignore case\); choose another name$"):
        fastei.register_activation(fastei.Activation("TANH", np.tanh, (-1.0, 1.0)))
    with pytest.raises(TypeError, match="an activation's name must be a non-empty string"):
        fastei.Activation("", np.tanh, (-1.0, 1.0))


@pytest.mark.parametrize("call, error, match", [
    (lambda: fastei.ei(np.ones((2, 2)) * 1j), TypeError,
     "weights must be a real numeric array, got a complex array"),
    (lambda: fastei.ei([["1", "2"]]), TypeError, r"got a non-numeric \(<U1\) array"),
    (lambda: fastei.ei(np.ones((2, 2), bool)), TypeError, "got a boolean array"),
    (lambda: fastei.ei(np.ones((2, 2)), span=(0.9, 1.7)), TypeError,
     r"span must be a layer index or a pair \(start, end\) of integer indices, got \(0\.9"),
    (lambda: fastei.ei(np.ones((2, 2)), span="01"), TypeError, "got '01'"),
    (lambda: fastei.ei(np.ones((2, 2)), span=True), TypeError, "got True"),
    (lambda: fastei.ei(np.ones((2, 2)), in_range=(-1e308, 1e308)), ValueError,
     r"in_range = \(-1e\+308, 1e\+308\) is too wide: hi - lo overflows float64"),
    (lambda: fastei.ei(np.ones((2, 2)), out_range=("0", 1)), TypeError,
     "out_range must be a pair"),
    (lambda: fastei.ei(np.ones((2, 2)), progress="yes"), TypeError,
     "progress must be True, False or None"),
    (lambda: fastei.measure(np.ones((2, 2)), groups=[[0, 1]]), TypeError,
     "groups inputs must be a list of node indices"),
    (lambda: fastei.measure(np.ones((2, 2)), groups=[1]), TypeError,
     r"each group must be a pair \(inputs, outputs\)"),
    (lambda: fastei.measure(np.ones((2, 2)), groups="ab"), TypeError,
     "groups must be a list of"),
    (lambda: fastei.group_ei(np.ones((2, 2)), inputs=[True]), TypeError,
     "inputs must be a non-empty list of integer node indices"),
    (lambda: fastei.sensitivity(np.ones((2, 2)), baseline="0"), TypeError,
     "baseline must be a number"),
    (lambda: fastei.sensitivity(np.ones((2, 2)), baseline=np.inf), ValueError,
     "baseline must be finite"),
    (lambda: fastei.ei(np.ones((2, 2)), in_bins=2**15), ValueError, "in_bins must be <= 32767"),
])
def test_bad_options_get_one_line_errors(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_no_kernel_compiles_after_warmup(tmp_path):
    script = """
import numpy as np, numba, fastei, fastei.plot
from fastei import _conv_kernels, _exact, _kernels, _rng, _sampling, _stratified
from fastei.conv import Conv2d, average_pool

def compiled():
    return {name: len(f.signatures)
            for module in (_kernels, _rng, _exact, _stratified, _conv_kernels)
            for name, f in vars(module).items()
            if isinstance(f, numba.core.registry.CPUDispatcher)}

fastei.warmup()
before = compiled()
rng = np.random.default_rng(0)
w = rng.uniform(-2, 2, (8, 12))
net = fastei.Network.from_weights([w, rng.uniform(-1, 1, (3, 8))], activation=["tanh", "relu"])
fastei.measure(w, samples=30_000, sensitivity_samples=200, groups=[([0], [1, 2])])
fastei.measure(net, span=(0, 1), samples=5000, overflow="drop", in_range=(-1, 1))
fastei.ei(w, samples=400_000, max_memory="24MB")
fastei.ei(w[:, :4], samples=400_000, max_memory="17MB")
fastei.measure(w[:3, :2], method="converged")
fastei.measure(w[:3], method="converged", cells=20, points_per_cell=16)
fastei.plot.two_input_surfaces("tanh", w1=[-2.0, 0.0, 3.0], w2=[0.5, 1.0], bins=16)
fastei.ei_parts(w, method="exact", in_bins=16, out_bins=32)
conv = Conv2d(rng.uniform(-1, 1, (3, 2, 3, 3)), rng.uniform(-1, 1, 3), (2, 6, 5), stride=2,
              padding=1, activation="relu")
pool = average_pool(conv.output_shape, 2)
fastei.measure(fastei.Network([conv, pool]), span=(0, 1), samples=5000,
               sensitivity_samples=100, out_range=(0, 2))
fastei.Network([conv, pool]).forward(rng.uniform(size=(4, conv.n_in)))
after = compiled()
print({name: (before.get(name), n) for name, n in after.items() if before.get(name) != n})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{}"
