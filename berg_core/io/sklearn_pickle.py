"""Pickled scikit-learn estimators read as data (never run) and written without scikit-learn.

Some published weights are ``pickle.dump`` of a dict holding fitted sklearn
estimators (e.g. a ``RidgeCV``). Unpickling them with :mod:`pickle` would import
sklearn and run whatever the file names. Here the file is read by core's
bounded unpickler (:mod:`berg_core.io.safe_pickle`) with one addition: the
estimator classes of :data:`ALLOWED_ESTIMATORS` resolve to a marker, and an
object of one becomes a :class:`SklearnEstimator`, a record of its class name
and its pickled attribute dict (arrays, numbers, text, containers only). No
sklearn code is imported or run. :func:`dump_sklearn_pickle` writes the same
opcodes sklearn's own pickles hold (the class as a global, ``NEWOBJ``, the
attribute dict, ``BUILD``), so synthetic stores carry the real format without
sklearn installed.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from berg_core.errors import IntegrityError
from berg_core.io.safe_pickle import BoundedUnpickler, short_repr, unpickle

__all__ = ["ALLOWED_ESTIMATORS", "SklearnEstimator", "dump_sklearn_pickle", "load_sklearn_pickle"]

#: "module.Class" of the estimators a weights file may hold; old (pre-0.22, public) and new (private) module paths
ALLOWED_ESTIMATORS = frozenset(
    f"{module}.{name}"
    for names, modules in (
        (("Ridge", "RidgeCV"), ("sklearn.linear_model._ridge", "sklearn.linear_model.ridge")),
        (("LinearRegression",), ("sklearn.linear_model._base", "sklearn.linear_model.base")),
        (("StandardScaler",), ("sklearn.preprocessing._data", "sklearn.preprocessing.data")),
        (("PCA",), ("sklearn.decomposition._pca", "sklearn.decomposition.pca")),
        (("TruncatedSVD",), ("sklearn.decomposition._truncated_svd", "sklearn.decomposition.truncated_svd")),
    )
    for name in names
    for module in modules
)


@dataclass(frozen=True)
class SklearnEstimator:
    """A fitted sklearn estimator as data: its class and its attributes (``coef_``, ``alpha_``...).

    Attributes
    ----------
    module
        The module the pickle names (e.g. ``"sklearn.linear_model._ridge"``).
    name
        The class name (``"RidgeCV"``).
    state
        The estimator's ``__dict__`` as pickled: hyper-parameters, fitted attributes, ``_sklearn_version``.
    """

    module: str
    name: str
    state: Mapping[str, Any] = field(default_factory=dict)

    def attribute(self, key: str, source: str) -> Any:
        """``state[key]``, or an :class:`IntegrityError` naming the file, the class and what it holds."""
        if key not in self.state:
            raise IntegrityError(
                f"{source}: the pickled {self.name} has no {key!r} (it holds {sorted(self.state)}); is it fitted?"
            )
        return self.state[key]


class _EstimatorClass:
    """What an allowed estimator class name resolves to: a name, never the class."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _EstimatorState:
    """An estimator between ``NEWOBJ`` and ``BUILD``."""

    __slots__ = ("cls", "state")

    def __init__(self, cls: _EstimatorClass) -> None:
        self.cls = cls
        self.state: dict[str, Any] | None = None


class SklearnUnpickler(BoundedUnpickler):
    """The bounded unpickler, also reading the estimators of :data:`ALLOWED_ESTIMATORS` as records."""

    def find_class(self, module: str, name: str) -> Any:
        if f"{module}.{name}" in ALLOWED_ESTIMATORS:
            return _EstimatorClass(module, name)
        return super().find_class(module, name)

    def new_object(self, cls: Any, args: Any) -> Any:
        if isinstance(cls, _EstimatorClass):
            if args != ():
                raise IntegrityError(f"the pickle creates a {cls.name} with arguments {short_repr(args)}")
            return _EstimatorState(cls)
        return super().new_object(cls, args)

    def build_other(self, inst: Any, state: Any) -> None:
        if isinstance(inst, _EstimatorState):
            if inst.state is not None or not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise IntegrityError(f"the pickled {inst.cls.name} has an unexpected state {short_repr(state)}")
            inst.state = state
            return
        super().build_other(inst, state)

    def finish_one(self, obj: Any, walk: Any) -> tuple[Any, int]:
        if isinstance(obj, _EstimatorState):
            if obj.state is None:
                raise IntegrityError(f"the pickled {obj.cls.name} has no state")
            size, state = 1, {}
            for key, value in obj.state.items():
                state[key], n = walk(value)
                size += n
            return SklearnEstimator(obj.cls.module, obj.cls.name, state), size
        if isinstance(obj, _EstimatorClass):
            raise IntegrityError(f"the pickle holds the class {obj.module}.{obj.name} itself, not a fitted estimator")
        return super().finish_one(obj, walk)


def load_sklearn_pickle(fh: IO[bytes], source: str) -> Any:
    """Read a pickle of plain containers, NumPy arrays and allowed sklearn estimators.

    Raises
    ------
    IntegrityError
        The file is damaged, or names anything else (nothing from it is run).
    """
    return unpickle(fh, source, cls=SklearnUnpickler)


class _Writer(pickle._Pickler):  # type: ignore[name-defined,misc]
    """The pure-Python pickler, writing :class:`SklearnEstimator` records as sklearn's pickles hold them."""

    # set by pickle._Pickler (not in its type stubs)
    memo: dict[int, Any]
    write: Any
    get: Any
    memoize: Any

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, SklearnEstimator):
            memo = self.memo.get(id(obj))
            if memo is not None:
                self.write(self.get(memo[0]))
                return
            # the class by name (what pickle writes for a class) then NEWOBJ with no arguments, as
            # object.__reduce_ex__ gives for an sklearn estimator, then its __dict__ and BUILD
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            self.write(pickle.EMPTY_TUPLE + pickle.NEWOBJ)
            self.memoize(obj)
            self.save(dict(obj.state))
            self.write(pickle.BUILD)
            return
        super().save(obj, save_persistent_id)  # type: ignore[misc]


def dump_sklearn_pickle(obj: Any, fh: IO[bytes] | None = None, protocol: int = 4) -> bytes | None:
    """Pickle ``obj`` (containers, arrays, :class:`SklearnEstimator` records) in sklearn's own format.

    sklearn, where installed, unpickles the result into real estimators. Returns the bytes
    when ``fh`` is ``None``.
    """
    if fh is None:
        buffer = io.BytesIO()
        _Writer(buffer, protocol=protocol).dump(obj)
        return buffer.getvalue()
    _Writer(fh, protocol=protocol).dump(obj)
    return None
