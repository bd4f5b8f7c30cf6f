"""Signatures and Parameters sections of the public estimators, made from one table.

Each estimator names the options it takes; :func:`estimator` gives it a keyword-only
signature in the order of :data:`~fastei.estimators.options.OPTIONS`, validates the
keywords once into :class:`~fastei.estimators.options.Options`, and fills the
``{parameters}`` field of its docstring, so signatures and docs cannot drift apart.
"""

from __future__ import annotations

import functools
import inspect
import textwrap

from .options import OPTIONS, make_options

METHOD_DOCS = {
    "sampled": "the paper's plug-in over ``samples`` noise samples",
    "exact": "quadrature, no noise (one layer with monotone activations)",
    "stratified": "converged joint EI of any width with a standard error "
                  "(see :func:`ei_stratified`)",
    "converged": "exact EI_parts and sensitivity, exact (one or two inputs) or "
                 "stratified EI (one layer)",
}

_RULES = ('``"auto"`` doubles the samples from 100,000 until another doubling is expected to '
          'move the value by less than 5 %; ``"extrapolate"`` fits ``A / s**alpha + C`` to '
          "100K..2M samples and reads it at 10**15 (the paper's SI rules; see "
          ":mod:`fastei.convergence`).")

_NETWORK = ("network", "Network, Dense, array_like or list of array_like",
            "The network; plain weight matrices ``(n_out, n_in)`` mean sigmoid layers "
            "without bias.")


def _entry(name: str, kind: str, doc: str) -> str:
    body = textwrap.fill(doc, width=84, initial_indent="    ", subsequent_indent="    ")
    return f"{name} : {kind}\n{body}"


def _samples_kind(default: int, rules: bool) -> str:
    shown = "10**7" if default == 10**7 else str(default)
    return ('int, "auto" or "extrapolate"' if rules else "int") + f", default {shown}"


def estimator(*names: str, methods: tuple[str, ...] = (), samples: int | None = None,
              samples_doc: str | None = None, sample_rules: bool = False):
    """Declare a public estimator ``body(network, options)`` taking the options ``names``.

    Parameters
    ----------
    *names : str
        Options from ``OPTIONS`` the estimator takes (``method`` is added when ``methods``
        is given).
    methods : tuple of str
        Accepted ``method`` values, the default first.
    samples : int, optional
        Default of ``samples`` where it differs from the table's.
    samples_doc : str, optional
        Text of ``samples`` where it differs from the table's.
    sample_rules : bool, default False
        Whether ``samples`` accepts the convergence rules ``"auto"`` and ``"extrapolate"``.
    """
    taken = [name for name in OPTIONS if name in names or (name == "method" and methods)]
    unknown = set(names) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}")
    defaults = {name: OPTIONS[name].default for name in taken}
    if samples is not None:
        defaults["samples"] = samples
    if methods:
        defaults["method"] = methods[0]

    def document(name: str) -> str:
        option = OPTIONS[name]
        if name == "samples":
            doc = (samples_doc or option.doc) + (" " + _RULES if sample_rules else "")
            return _entry(name, _samples_kind(defaults["samples"], sample_rules), doc)
        if name == "method":
            kind = "{" + ", ".join(f'"{m}"' for m in methods) + f'}}, default "{methods[0]}"'
            doc = "Estimator: " + "; ".join(f'"{m}", {METHOD_DOCS[m]}' for m in methods) + "."
            return _entry(name, kind, doc)
        return _entry(name, option.kind, option.doc)

    def wrap(body):
        @functools.wraps(body)
        def public(network, **keywords):
            extra = sorted(set(keywords) - set(taken))
            if extra:
                raise TypeError(
                    f"{body.__name__}() got an unexpected keyword argument {extra[0]!r}; "
                    f"it takes {', '.join(taken)}")
            options = make_options({**defaults, **keywords}, methods=methods or ("sampled",),
                                   sample_rules=sample_rules)
            return body(network, options)

        parameters = [inspect.Parameter("network", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                         default=defaults[name]) for name in taken]
        public.__signature__ = inspect.Signature(
            parameters, return_annotation=inspect.signature(body).return_annotation)
        del public.__wrapped__  # the signature above, not the body's, is the public one
        if body.__doc__ is not None:  # None under python -OO
            section = "\n".join([_entry(*_NETWORK)] + [document(name) for name in taken])
            public.__doc__ = inspect.cleandoc(body.__doc__).replace(
                "{parameters}", section)
        return public

    return wrap
