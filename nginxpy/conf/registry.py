"""The directive registry: one declarative entry per directive, data first.

It has nginx's shape (``ngx_command_t``): a name, a bit mask of the contexts the
directive may appear in, its argument shape, and how its value is parsed and
inherited.  The entries themselves live in :mod:`nginxpy.conf.directives`; this
module defines their types and the look-ups the checker and the teaching tools use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Ctx(enum.IntFlag):
    """Where a directive may appear (nginx's ``NGX_*_CONF`` bits, one bit per context).

    nginx reuses bits across module types (``NGX_EVENT_CONF == NGX_HTTP_MAIN_CONF``)
    and tells them apart by module type; here every context has its own bit.
    """

    MAIN = enum.auto()  # top level of nginx.conf
    EVENTS = enum.auto()  # events { }
    HTTP = enum.auto()  # http { }                       NGX_HTTP_MAIN_CONF
    SERVER = enum.auto()  # http { server { } }          NGX_HTTP_SRV_CONF
    LOCATION = enum.auto()  # location { }               NGX_HTTP_LOC_CONF
    UPSTREAM = enum.auto()  # http { upstream { } }      NGX_HTTP_UPS_CONF
    SERVER_IF = enum.auto()  # if in server              NGX_HTTP_SIF_CONF
    LOCATION_IF = enum.auto()  # if in location          NGX_HTTP_LIF_CONF
    LIMIT_EXCEPT = enum.auto()  # limit_except { }       NGX_HTTP_LMT_CONF
    STREAM = enum.auto()  # stream { }                   NGX_STREAM_MAIN_CONF
    STREAM_SERVER = enum.auto()  #                       NGX_STREAM_SRV_CONF
    STREAM_UPSTREAM = enum.auto()  #                     NGX_STREAM_UPS_CONF
    MAIL = enum.auto()  # mail { }                       NGX_MAIL_MAIN_CONF
    MAIL_SERVER = enum.auto()  #                         NGX_MAIL_SRV_CONF


class Args(enum.IntFlag):
    """Argument shape, with nginx's ``NGX_CONF_*`` values so tables read the same."""

    NOARGS = 0x00000001
    TAKE1 = 0x00000002
    TAKE2 = 0x00000004
    TAKE3 = 0x00000008
    TAKE4 = 0x00000010
    TAKE5 = 0x00000020
    TAKE6 = 0x00000040
    TAKE7 = 0x00000080
    BLOCK = 0x00000100
    FLAG = 0x00000200
    ANY = 0x00000400
    ONEMORE = 0x00000800
    TWOMORE = 0x00001000

    TAKE12 = TAKE1 | TAKE2
    TAKE13 = TAKE1 | TAKE3
    TAKE23 = TAKE2 | TAKE3
    TAKE123 = TAKE1 | TAKE2 | TAKE3
    TAKE1234 = TAKE1 | TAKE2 | TAKE3 | TAKE4


_TAKE_BY_COUNT = (
    Args.NOARGS,
    Args.TAKE1,
    Args.TAKE2,
    Args.TAKE3,
    Args.TAKE4,
    Args.TAKE5,
    Args.TAKE6,
    Args.TAKE7,
)
MAX_ARGS = 8  # NGX_CONF_MAX_ARGS: the name plus seven arguments


def argument_count_ok(shape: Args, nargs: int) -> bool:
    """nginx's argument check (``ngx_conf_handler``); nargs excludes the name."""
    if shape & Args.ANY:
        return True
    if shape & Args.FLAG:
        return nargs == 1
    if shape & Args.ONEMORE:
        return nargs >= 1
    if shape & Args.TWOMORE:
        return nargs >= 2
    if nargs + 1 > MAX_ARGS:
        return False
    return bool(shape & _TAKE_BY_COUNT[nargs])


class Merge(enum.Enum):
    """How a value set at an outer level reaches the inner ones (http -> server -> location)."""

    INHERIT = "inherit"  # an inner level inherits the outer value unless it sets its own
    REPLACE_ARRAY = "replace"  # an array: one entry at an inner level drops all inherited ones
    NONE = "none"  # the value belongs to the level it is set in (main, server-only, ...)


@dataclass(frozen=True, slots=True)
class Spec:
    """One directive of one nginx module."""

    name: str
    module: str  # the nginx module that defines it, e.g. "ngx_http_proxy_module"
    contexts: Ctx
    args: Args
    # How the value is parsed, named after nginx's shared setters:
    # flag, num, size, off, msec, sec, str, enum, bitmask, path, bufs, keyval,
    # str_array, or "custom" for a directive with its own handler.
    kind: str = "custom"
    default: str | None = None  # the documented default, as written in nginx's docs
    merge: Merge = Merge.INHERIT
    values: tuple[str, ...] = ()  # the words an enum or bitmask accepts
    summary: str = ""  # one line, for the teaching tool
    doc: str = ""  # link to the directive in nginx's documentation
    implemented: bool = False  # does the nginxpy runtime act on it?
    dynamic: bool = False  # only there after load_module (Debian builds stream/mail as modules)

    @property
    def is_block(self) -> bool:
        return bool(self.args & Args.BLOCK)


@dataclass(slots=True)
class Registry:
    """All specs by name; one name may belong to several modules (``server``, ``ssl_*``)."""

    by_name: dict[str, list[Spec]] = field(default_factory=dict)

    def add(self, spec: Spec) -> None:
        self.by_name.setdefault(spec.name, []).append(spec)

    def lookup(self, name: str) -> list[Spec]:
        return self.by_name.get(name, [])

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __len__(self) -> int:
        return sum(len(specs) for specs in self.by_name.values())

    def all(self) -> list[Spec]:
        return [spec for specs in self.by_name.values() for spec in specs]


DOCS = "https://nginx.org/en/docs/"

# The columns of a line of a directive table (nginxpy/conf/directives.py), tab-separated.
TABLE_COLUMNS = (
    "name",
    "module",
    "contexts",
    "args",
    "kind",
    "merge",
    "default",
    "values",
    "dynamic",
    "doc",
    "summary",
)


def specs_from_table(table: str) -> list[Spec]:
    """The specs of a directive table: one line per spec, columns as TABLE_COLUMNS.

    contexts and args are flag names separated by spaces; "-" is no default (None), no
    values, or not dynamic; doc is the link after DOCS.  Lines starting with "#" are
    comments.  (A table is data to the compiler: a module of many Spec(...) calls costs
    megabytes to compile, which a configuration check would pay each time it runs from
    source.)"""
    flags: dict[str, Any] = {}

    def flag(kind: type[Ctx] | type[Args], names: str) -> Any:
        key = kind.__name__ + names
        value = flags.get(key)
        if value is None:
            value = kind(0)
            for name in names.split():
                value |= kind[name]
            flags[key] = value
        return value

    specs = []
    for line in table.splitlines():
        if not line or line.startswith("#"):
            continue
        name, module, contexts, args, kind, merge, default, values, dynamic, doc, summary = line.split("\t")
        specs.append(
            Spec(
                name=name,
                module=module,
                contexts=flag(Ctx, contexts),
                args=flag(Args, args),
                kind=kind,
                default=None if default == "-" else default,
                merge=Merge[merge],
                values=() if values == "-" else tuple(values.split()),
                summary=summary,
                doc=DOCS + doc,
                dynamic=dynamic == "dynamic",
            )
        )
    return specs


def build_registry(specs: list[Spec]) -> Registry:
    registry = Registry()
    for spec in specs:
        registry.add(spec)
    return registry
