"""Network calls of a store, each with a total deadline.

A server that accepts connections and then never answers would otherwise hold a
call for as long as the client library retries: with s3fs's defaults (a 15 s read
timeout, botocore's 5 attempts, s3fs's own 5 retries) about 25 minutes. Here every
request a :class:`~berg_core.store.model_store.Store` sends (a query, a listing, a small file,
one block of a large one), and building the filesystem where that connects, must
finish within ``$BERG_NETWORK_TIMEOUT`` seconds
(default :data:`DEFAULT_NETWORK_TIMEOUT`), whatever the protocol and its retries;
so must every request to a result store, whose filesystems :func:`bounded_filesystem` builds:

* asynchronous filesystems (s3fs, gcsfs, http...) run the coroutine under
  ``asyncio.wait_for`` on fsspec's loop, so a late request is cancelled;
* other remote filesystems run the call in a watchdog thread that is abandoned at
  the deadline (their own timeouts end it later);
* local filesystems are called directly: there is no network to wait for.

For S3, botocore's timeouts and attempts also get bounded defaults
(:data:`S3_CONFIG_DEFAULTS`) unless the user's ``config_kwargs`` set them, so a
slow but live server is retried within the deadline rather than past it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import os
import threading
import time
from typing import Any

import fsspec
import fsspec.asyn
import fsspec.config
from fsspec.exceptions import FSTimeoutError

from berg_core.errors import InvalidParameterError, StoreError

__all__ = [
    "DEFAULT_NETWORK_TIMEOUT",
    "NETWORK_TIMEOUT_ENV",
    "S3_CONFIG_DEFAULTS",
    "bounded",
    "bounded_filesystem",
    "call",
    "connect",
    "network_timeout",
    "with_network_defaults",
]

NETWORK_TIMEOUT_ENV = "BERG_NETWORK_TIMEOUT"
DEFAULT_NETWORK_TIMEOUT = 15.0
#: botocore settings for S3 stores, each used unless the user's ``config_kwargs`` give it.
S3_CONFIG_DEFAULTS: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 10, "retries": {"max_attempts": 3, "mode": "standard"}}
_LOCAL_PROTOCOLS = {"file", "local"}
_S3_PROTOCOLS = {"s3", "s3a"}
#: s3fs's one place that sends a request (with its retries): bounding it bounds every request,
#: including those of its file objects, which the public coroutines do not go through.
_REQUEST_METHODS = ("_call_s3",)
_BOUNDED_MARK = "_berg_bounded"


def network_timeout() -> float:
    """The deadline of one network request in seconds: ``$BERG_NETWORK_TIMEOUT`` or the default.

    Raises
    ------
    InvalidParameterError
        The variable is set to something other than a positive number of seconds.
    """
    raw = os.environ.get(NETWORK_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_NETWORK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"{NETWORK_TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def with_network_defaults(url: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` for ``url`` with bounded botocore settings for S3.

    Settings the user gave, in ``storage_options["config_kwargs"]`` or in fsspec's
    configuration (``FSSPEC_S3_CONFIG_KWARGS``, ``~/.config/fsspec``), win over the defaults.
    """
    protocol = fsspec.utils.get_protocol(url)
    if protocol not in _S3_PROTOCOLS:
        return storage_options
    configured = fsspec.config.conf.get(protocol, {}).get("config_kwargs") or {}
    given = storage_options.get("config_kwargs") or {}
    return {**storage_options, "config_kwargs": {**S3_CONFIG_DEFAULTS, **configured, **given}}


def is_local(fs: Any) -> bool:
    """Whether ``fs`` is the local filesystem."""
    protocol = fs.protocol
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return bool(_LOCAL_PROTOCOLS.intersection(protocols))


def call(fs: Any, method: str, *args: Any, url: str, action: str = "read", **kwargs: Any) -> Any:
    """``fs.<method>(*args, **kwargs)``, given up after :func:`network_timeout` seconds.

    Parameters
    ----------
    fs
        An fsspec filesystem.
    method
        The name of a public method (``info``, ``cat_file``, ``ls``, ``find``...).
    url, action
        For the message: what was being done to which URL.

    Raises
    ------
    StoreError
        No answer within the deadline; the message names ``url`` and the setting.
    Exception
        Whatever the method raises, unchanged (callers turn it into a ``StoreError``).
    """
    if is_local(fs):
        return getattr(fs, method)(*args, **kwargs)
    timeout = network_timeout()
    coroutine = getattr(fs, f"_{method}", None)
    if isinstance(fs, fsspec.asyn.AsyncFileSystem) and not fs.asynchronous and coroutine is not None:
        try:
            return fsspec.asyn.sync(fs.loop, coroutine, *args, timeout=timeout, **kwargs)
        except FSTimeoutError:
            raise _late(url, action, timeout) from None
    return _watched(getattr(fs, method), args, kwargs, timeout, url, action)


def bounded(fs: Any) -> Any:
    """``fs`` with each of its requests given up after :func:`network_timeout` seconds (the same object).

    Every coroutine of an asynchronous filesystem (``_cat_file``, ``_pipe_file``, ``_ls``...,
    and s3fs's ``_call_s3``) runs under ``asyncio.wait_for``, so a request a silent server
    holds is cancelled and raises a :class:`StoreError` naming its URL, whether it is called
    through the filesystem's blocking methods or awaited by Zarr's asynchronous store. The
    deadline is read at each call, so ``$BERG_NETWORK_TIMEOUT`` applies to cached instances.
    Local and blocking filesystems are returned unchanged.
    """
    if is_local(fs) or not isinstance(fs, fsspec.asyn.AsyncFileSystem) or getattr(fs, _BOUNDED_MARK, False):
        return fs
    for name in (*fsspec.asyn.async_methods, *_REQUEST_METHODS):
        coroutine = getattr(fs, name, None)
        if not inspect.iscoroutinefunction(coroutine):
            continue
        watched = _with_deadline(fs, coroutine, name)
        setattr(fs, name, watched)
        blocking = name.removeprefix("_")
        if name in fsspec.asyn.async_methods and not fs.asynchronous and hasattr(fs, blocking):
            # fsspec bound the blocking twins to the unbounded coroutines when the instance was made
            setattr(fs, blocking, fsspec.asyn.sync_wrapper(watched, obj=fs))
    setattr(fs, _BOUNDED_MARK, True)
    return fs


def bounded_filesystem(url: str, storage_options: dict[str, Any] | None = None, **extra: Any) -> tuple[Any, str]:
    """``fsspec.core.url_to_fs(url, ...)`` with bounded botocore settings and requests (see :func:`bounded`).

    ``extra`` are further filesystem options berg itself sets (``asynchronous=True`` for Zarr).
    """
    options = {**with_network_defaults(url, dict(storage_options or {})), **extra}
    fs, path = fsspec.core.url_to_fs(url, **options)
    return bounded(fs), path


def _with_deadline(fs: Any, coroutine: Any, name: str) -> Any:
    @functools.wraps(coroutine)
    async def watched(*args: Any, **kwargs: Any) -> Any:
        timeout = network_timeout()
        start = time.monotonic()
        try:
            return await asyncio.wait_for(coroutine(*args, **kwargs), timeout)
        except TimeoutError:
            if time.monotonic() - start < timeout:  # the client's own timeout (aiohttp's is a TimeoutError too)
                raise
            raise _late(_request_url(fs, name, args, kwargs), _action(name), timeout) from None

    return watched


def _request_url(fs: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    if name not in _REQUEST_METHODS and args and isinstance(args[0], str):
        path = args[0]
    else:  # s3fs's _call_s3(method, Bucket=..., Key=...)
        path = "/".join(str(kwargs[k]) for k in ("Bucket", "Key", "Prefix") if kwargs.get(k))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{path}" if path else f"the {protocol} server"


def _action(name: str) -> str:
    if name in ("_pipe_file", "_put_file", "_mkdir", "_makedirs", "_cp_file"):
        return "write"
    if name in ("_rm_file",):
        return "remove"
    if name in ("_ls", "_walk", "_glob", "_find", "_du", "_expand_path"):
        return "list"
    return "reach" if name not in ("_cat_file", "_get_file") else "read"


def connect(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """``fsspec.core.url_to_fs(url, **storage_options)`` within the deadline.

    Some filesystems (FTP, SFTP...) connect while they are built; a silent server
    would hold that step for as long as their own timeout.
    """
    if fsspec.utils.get_protocol(url) in _LOCAL_PROTOCOLS:
        return fsspec.core.url_to_fs(url, **storage_options)  # type: ignore[no-any-return]
    return _watched(fsspec.core.url_to_fs, (url,), storage_options, network_timeout(), url, "open")  # type: ignore[no-any-return]


def _watched(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float, url: str, action: str) -> Any:
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread, whatever it is
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="berg-network-call", daemon=True).start()
    if not done.wait(timeout):
        raise _late(url, action, timeout)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _late(url: str, action: str, timeout: float) -> StoreError:
    return StoreError(
        f"cannot {action} {url}: no answer from the server within {timeout:g} s "
        f"(set {NETWORK_TIMEOUT_ENV} to a number of seconds to wait longer)"
    )
