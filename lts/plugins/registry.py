"""Find, check and build plugins: built-ins from ``lts/plugins/<kind>/``, others from entry points.

Nothing here trusts a plugin. Every candidate is imported and checked once, at
discovery: right base class for its kind, no abstract method left, a marshmallow
``config_schema`` that can be instantiated, and an ``interface_version`` whose major
number matches :data:`lts.plugins.base.INTERFACE_VERSION`. A candidate failing any
check becomes a :class:`PluginLoadError` in :attr:`PluginRegistry.errors` (logged and
listed by ``flask lts plugins``); it never stops the app.

Third-party plugins come from the entry-point groups ``lts.<kind>`` (``lts.aaa``,
``lts.core``, ``lts.pipeline``, ``lts.strategy``, ...), and are skipped entirely in safe
mode. A third-party plugin may not take the name of a built-in. All six kinds, ``aaa``
included, go through the same checks.

What a plugin sees is decided here too: :meth:`PluginRegistry.create` hands a plugin its
validated config and only the global settings its class declares (``settings``); a
class may not declare LTS's secret, database, Redis or SMTP settings.

One registry is built per app and cached in ``app.extensions["lts_plugins"]``
(:func:`get_registry`); it is read-only afterwards, so threads can share it.
:func:`reload_registry` replaces it with a fresh discovery (new distributions appear;
code already imported keeps running until a restart).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
import traceback
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import marshmallow
from marshmallow import fields as mf
from marshmallow import validate as mv

from lts.config import SETTINGS as LTS_SETTINGS
from lts.config import Setting
from lts.plugins.base import (
    INTERFACE_VERSION,
    PLUGIN_KINDS,
    BrokerPlugin,
    CorePlugin,
    PipelinePlugin,
    Plugin,
    PluginError,
    PluginSetting,
    PortfolioPlugin,
    StrategyPlugin,
)
from lts.version import __version__

log = logging.getLogger("lts.plugins")

ENTRY_POINT_PREFIX = "lts."
BUILTIN = "builtin"
EXTENSION_KEY = "lts_plugins"
#: The name LTS is installed under (``pip show lts-live-trading``); the import package is ``lts``.
DISTRIBUTION_NAME = "lts-live-trading"

#: The plugin each kind uses when a portfolio or asset names none.
DEFAULT_PLUGINS: dict[str, str] = {
    "aaa": "default",
    "core": "default",
    "pipeline": "synthetic",
    "strategy": "prediction_threshold",
    "broker": "paper",
    "portfolio": "equal_weight",
}


def _aaa_base() -> type[Plugin]:
    """Return the aaa contract (imported late: it speaks of users and sessions)."""
    from lts.plugins.aaa.base import AAAPlugin

    return AAAPlugin


def base_class(kind: str) -> type[Plugin]:
    """Return the contract (abstract base class) plugins of ``kind`` must subclass."""
    bases: dict[str, type[Plugin]] = {
        "pipeline": PipelinePlugin,
        "strategy": StrategyPlugin,
        "broker": BrokerPlugin,
        "portfolio": PortfolioPlugin,
        "core": CorePlugin,
    }
    if kind == "aaa":
        return _aaa_base()
    if kind not in bases:
        raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(PLUGIN_KINDS)}")
    return bases[kind]


# ------------------------------------------------------------------------- errors


class PluginRegistryError(Exception):
    """Base of the errors the registry raises to its callers."""


class UnknownPlugin(PluginRegistryError, LookupError):
    """No loaded plugin of that kind has that name (or it failed to load)."""

    def __init__(self, kind: str, name: str, available: Iterable[str] = (),
                 load_error: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.available = tuple(available)
        message = f"unknown {kind} plugin {name!r}"
        if load_error:
            message += f" (it failed to load: {load_error})"
        message += f"; available: {', '.join(self.available) or 'none'}"
        super().__init__(message)


class PluginConfigError(PluginRegistryError, ValueError):
    """A plugin config failed its schema; ``fields`` maps each field to its messages.

    ``fields`` has marshmallow's shape (``{"fast": ["Must be ..."]}``, nested dicts for
    nested fields, ``_schema`` for whole-config errors), so views can show each message
    next to its field.
    """

    def __init__(self, kind: str, name: str, fields: Mapping[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.fields: dict[str, Any] = dict(fields)
        details = "; ".join(f"{key}: {_flatten(value)}" for key, value in self.fields.items())
        super().__init__(f"invalid config for {kind} plugin {name!r}: {details}")


def _flatten(messages: Any) -> str:
    """Render marshmallow messages (str, list or nested dict) on one line."""
    if isinstance(messages, Mapping):
        return ", ".join(f"{k}: {_flatten(v)}" for k, v in messages.items())
    if isinstance(messages, list | tuple):
        return " ".join(_flatten(m) for m in messages)
    return str(messages)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PluginLoadError:
    """A plugin that could not be used, and why. ``name`` is the module or entry point."""

    kind: str
    name: str
    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} plugin {self.name!r} ({self.origin}): {self.message}"


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: where it came from and what it accepts.

    ``origin`` is ``builtin`` or ``entry point <distribution>``; ``config_fields`` are
    the names of its config fields (details in :meth:`PluginRegistry.config_json_schema`).
    """

    kind: str
    name: str
    origin: str
    description: str
    cls: type[Plugin]
    config_fields: tuple[str, ...] = field(default=())
    version: str = ""  # of the distribution that ships it (LTS's own for built-ins)
    interface_version: str = ""
    settings: tuple[str, ...] = field(default=())  # the global settings it declares


# ----------------------------------------------------------------------- checking


def _major(version: str) -> str:
    """Major part of a ``MAJOR.MINOR`` version string."""
    return str(version).split(".", 1)[0].strip()


def check_plugin_class(cls: Any, kind: str) -> str | None:
    """Return why ``cls`` cannot serve as a ``kind`` plugin, or None when it can."""
    if not isinstance(cls, type):
        return f"{cls!r} is not a class"
    expected = base_class(kind)
    if not issubclass(cls, expected):
        return f"{cls.__qualname__} does not subclass {expected.__name__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        return f"{cls.__qualname__} declares no name"
    if getattr(cls, "kind", None) != kind:
        return f"{cls.__qualname__} declares kind {getattr(cls, 'kind', None)!r}, not {kind!r}"
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        return f"{cls.__qualname__} does not implement {', '.join(missing)}"
    problem = _version_problem(cls) or _settings_problem(cls)
    if problem:
        return problem
    schema = getattr(cls, "config_schema", None)
    if not (isinstance(schema, type) and issubclass(schema, marshmallow.Schema)):
        return f"{cls.__qualname__}.config_schema is not a marshmallow Schema class"
    try:
        schema()
    except Exception as exc:  # a plugin's schema may fail in any way
        return f"{cls.__qualname__}.config_schema cannot be instantiated: {exc!r}"
    return None


def _version_problem(cls: type) -> str | None:
    """Why the class's own ``interface_version`` is missing or incompatible, if it is."""
    if "interface_version" not in vars(cls):
        return (f"declare interface_version = '{INTERFACE_VERSION}' on class "
                f"{cls.__qualname__} (the contract version it was written for; an "
                f"inherited one would claim any LTS is compatible)")
    version = vars(cls)["interface_version"]
    if not isinstance(version, str) or _major(version) != _major(INTERFACE_VERSION):
        return (f"{cls.__qualname__} is built for interface {version!r}; "
                f"this LTS speaks {INTERFACE_VERSION}")
    return None


_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SETTING_TYPES = (str, int, float, bool)


def is_private_global(key: str) -> bool:
    """Whether LTS's setting ``key`` may never be handed to a plugin.

    Secrets (``secret_key``, ``smtp_password``), the database and Redis URLs (they may
    carry passwords) and the SMTP account belong to LTS alone.
    """
    setting = LTS_SETTINGS[key]
    return setting.secret or key in ("database_url", "redis_url") or key.startswith("smtp_")


def _default_fits(setting: PluginSetting) -> bool:
    """Whether a declared default has the declared type (``bool`` is no number)."""
    value = setting.default
    if setting.type is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if setting.type is float:
        return isinstance(value, int | float)
    return isinstance(value, setting.type)


def _settings_problem(cls: type) -> str | None:
    """Why the class's ``settings`` declaration is unusable, if it is."""
    declared = getattr(cls, "settings", ())
    if not isinstance(declared, tuple | list):
        return f"{cls.__qualname__}.settings must be a tuple of PluginSetting"
    for setting in declared:
        if not isinstance(setting, PluginSetting):
            return f"{cls.__qualname__}.settings holds {setting!r}, not a PluginSetting"
        if not isinstance(setting.name, str) or not _SETTING_NAME.match(setting.name):
            return (f"{cls.__qualname__} declares setting {setting.name!r}: names are "
                    f"lower-case letters, digits and _ (they become LTS_<NAME> variables)")
        if setting.type not in _SETTING_TYPES:
            return (f"{cls.__qualname__} declares setting {setting.name!r} of type "
                    f"{setting.type!r}; use str, int, float or bool")
        core = LTS_SETTINGS.get(setting.name)
        if core is None:
            if not _default_fits(setting):
                return (f"{cls.__qualname__} declares setting {setting.name!r} with default "
                        f"{setting.default!r}, which is not a {setting.type.__name__}")
        elif is_private_global(setting.name):
            return (f"{cls.__qualname__} declares LTS's setting {setting.name!r}, which no "
                    f"plugin may read")
        elif core.type is not setting.type:
            return (f"{cls.__qualname__} declares {setting.name!r} as "
                    f"{setting.type.__name__}; LTS defines it as {core.type.__name__}")
    return None


def as_config_setting(setting: PluginSetting) -> Setting:
    """The configuration key a plugin's declared setting becomes."""
    return Setting(setting.name, setting.type, setting.default, setting.description,
                   secret=setting.secret)


def import_failure(exc: BaseException) -> str:
    """``import failed: NameError: ... (at /site/pkg/mod.py:12)``: what broke, and where.

    The place is the innermost frame outside Python's import machinery (for a syntax
    error, the offending line), so a plugin author goes straight to the line.
    """
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" (at {exc.filename}:{exc.lineno})"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith("<frozen")]
        if frames:
            where = f" (at {frames[-1].filename}:{frames[-1].lineno})"
    return f"import failed: {type(exc).__name__}: {exc}{where}"


def _safe_check(cls: Any, kind: str) -> str | None:
    """Run :func:`check_plugin_class`, turning a crash of the check itself into a reason."""
    try:
        return check_plugin_class(cls, kind)
    except Exception as exc:  # e.g. a hostile metaclass
        return f"cannot be checked: {exc!r}"


def _concrete_plugins(module: types.ModuleType, kind: str) -> list[type[Plugin]]:
    """Plugin classes defined in ``module`` that declare a name of their own."""
    found = []
    expected = base_class(kind)
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ != module.__name__ or not issubclass(obj, Plugin):
            continue
        if "name" not in obj.__dict__:
            continue  # an intermediate base class, not a plugin
        if issubclass(obj, expected) or obj.__dict__.get("kind") == kind:
            found.append(obj)
    return found


def _settings(app_config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Return the LTS settings, given them or a Flask config holding them under ``LTS``."""
    if app_config is None:
        return {}
    nested = app_config.get("LTS") if isinstance(app_config, Mapping) else None
    return nested if isinstance(nested, Mapping) else app_config


# ----------------------------------------------------------------------- registry


class PluginRegistry:
    """The plugins this process can use, by kind and name, and those that failed to load."""

    def __init__(self) -> None:
        self._plugins: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in PLUGIN_KINDS}
        self._errors: list[PluginLoadError] = []
        # global settings plugins declare (LTS's own excluded), and who declared each first
        self._declared: dict[str, tuple[PluginSetting, str]] = {}

    # ---- discovery

    @classmethod
    def discover(cls, app_config: Mapping[str, Any] | None = None,
                 previous: PluginRegistry | None = None) -> PluginRegistry:
        """Load built-ins, then entry-point plugins unless ``safe_mode`` is on.

        ``previous`` is the registry this one replaces (a reload): a distribution whose
        version changed while its module stays imported is reported, since Python keeps
        running the code it imported first.
        """
        registry = cls()
        settings = _settings(app_config)
        for kind in PLUGIN_KINDS:
            registry._discover_builtins(kind)
        if settings.get("safe_mode"):
            log.info("safe mode: third-party plugins are not loaded")
        else:
            for kind in PLUGIN_KINDS:
                registry._discover_entry_points(kind)
        if previous is not None:
            registry._report_stale_code(previous)
        for error in registry._errors:
            log.warning("plugin not loaded: %s", error)
        return registry

    def _report_stale_code(self, previous: PluginRegistry) -> None:
        """Record plugins upgraded on disk whose old code is still the one running."""
        for info in self.infos():
            try:
                before = previous.info(info.kind, info.name)
            except (UnknownPlugin, ValueError):
                continue
            if before.cls is info.cls and before.version != info.version:
                self._fail(info.kind, info.name, info.origin,
                           f"version {info.version} is installed but {before.version} is "
                           f"still running (its module was imported before); restart LTS "
                           f"to run the new code")

    def _discover_builtins(self, kind: str) -> None:
        """Import every module of ``lts.plugins.<kind>`` and register its plugins."""
        package_name = f"lts.plugins.{kind}"
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as exc:
            if exc.name == package_name:
                return  # no built-ins of this kind (yet)
            self._fail(kind, package_name, BUILTIN, import_failure(exc))
            return
        except (Exception, SystemExit) as exc:  # a broken package must not stop start-up
            self._fail(kind, package_name, BUILTIN, import_failure(exc))
            return
        for module_info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if module_info.name.startswith("_"):
                continue
            module_name = f"{package_name}.{module_info.name}"
            try:
                module = importlib.import_module(module_name)
            except (Exception, SystemExit) as exc:  # reported, never raised
                self._fail(kind, module_info.name, BUILTIN, import_failure(exc))
                continue
            for plugin_cls in _concrete_plugins(module, kind):
                self.register(kind, plugin_cls, BUILTIN)

    def _discover_entry_points(self, kind: str) -> None:
        """Load every entry point of the group ``lts.<kind>``."""
        group = ENTRY_POINT_PREFIX + kind
        try:
            entry_points = metadata.entry_points(group=group)
        except Exception as exc:  # broken metadata of some installed distribution
            self._fail(kind, group, "entry points", f"cannot list entry points: {exc!r}")
            return
        seen: set[tuple[str, str]] = set()
        for entry_point in entry_points:
            dist = getattr(entry_point, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
            key = (entry_point.name, entry_point.value)
            if key in seen:
                continue  # the same distribution seen twice on sys.path
            seen.add(key)
            origin = f"entry point {dist_name}"
            try:
                loaded = entry_point.load()
            except (Exception, SystemExit) as exc:  # reported, never raised
                self._fail(kind, entry_point.name, origin, import_failure(exc))
                continue
            problem = _safe_check(loaded, kind)
            if problem is None and loaded.name != entry_point.name:
                problem = (f"entry point name {entry_point.name!r} differs from the "
                           f"plugin's name {loaded.name!r}")
            if problem is not None:
                self._fail(kind, entry_point.name, origin, problem)
                continue
            self.register(kind, loaded, origin, name=entry_point.name,
                          version=_distribution_version(dist))

    def _fail(self, kind: str, name: str, origin: str, message: str) -> None:
        """Record a plugin that cannot be used."""
        self._errors.append(PluginLoadError(kind, name, origin, message))

    def register(self, kind: str, cls: Any, origin: str = BUILTIN,
                 name: str | None = None, version: str | None = None) -> PluginInfo | None:
        """Check ``cls`` and add it; on failure record a :class:`PluginLoadError`.

        Tests and embedding code may call this directly. Returns the new info, or None
        when the plugin was refused. ``version`` is the shipping distribution's
        (default: LTS's own).
        """
        label = name or getattr(cls, "name", None) or getattr(cls, "__name__", repr(cls))
        problem = _safe_check(cls, kind) or self._settings_clash(cls, kind)
        if problem:
            self._fail(kind, str(label), origin, problem)
            return None
        plugin_name: str = cls.name
        existing = self._plugins[kind].get(plugin_name)
        if existing is not None:
            if existing.cls is cls:
                return existing
            self._fail(kind, plugin_name, origin,
                       f"name already taken by {existing.cls.__module__}."
                       f"{existing.cls.__qualname__} ({existing.origin})")
            return None
        description = (cls.description or inspect.getdoc(cls) or "").strip()
        info = PluginInfo(
            kind=kind,
            name=plugin_name,
            origin=origin,
            description=description.splitlines()[0] if description else "",
            cls=cls,
            config_fields=tuple(cls.config_schema().fields),
            version=version or lts_version(),
            interface_version=cls.interface_version,
            settings=tuple(s.name for s in cls.settings),
        )
        self._plugins[kind][plugin_name] = info
        for setting in cls.settings:
            if setting.name not in LTS_SETTINGS:
                self._declared.setdefault(setting.name, (setting, f"{kind} plugin {plugin_name!r}"))
        return info

    def _settings_clash(self, cls: type[Plugin], kind: str) -> str | None:
        """Why a setting of ``cls`` contradicts one another plugin declared, if it does.

        Two plugins may share a setting (one distribution, two kinds) when they agree on
        its type and secrecy; otherwise one value could not serve both.
        """
        for setting in cls.settings:
            known = self._declared.get(setting.name)
            if known is None or (known[0].type is setting.type
                                 and known[0].secret == setting.secret):
                continue
            return (f"setting {setting.name!r} is already declared by {known[1]} as a "
                    f"{'secret ' if known[0].secret else ''}{known[0].type.__name__}")
        return None

    def declared_settings(self) -> dict[str, Setting]:
        """The configuration keys plugins add (LTS's own settings are not repeated)."""
        return {name: as_config_setting(setting)
                for name, (setting, _) in sorted(self._declared.items())}

    # ---- queries

    @property
    def errors(self) -> list[PluginLoadError]:
        """Plugins that failed to import or validate, in discovery order."""
        return list(self._errors)

    def names(self, kind: str) -> list[str]:
        """Sorted names of the loaded plugins of ``kind``."""
        self._check_kind(kind)
        return sorted(self._plugins[kind])

    def infos(self, kind: str | None = None) -> list[PluginInfo]:
        """Every loaded plugin (of ``kind`` when given), by kind then name."""
        kinds = [kind] if kind else list(PLUGIN_KINDS)
        for each in kinds:
            self._check_kind(each)
        return [self._plugins[k][n] for k in kinds for n in sorted(self._plugins[k])]

    def info(self, kind: str, name: str) -> PluginInfo:
        """Return the plugin ``name`` of ``kind``; :class:`UnknownPlugin` if there is none."""
        self._check_kind(kind)
        try:
            return self._plugins[kind][name]
        except KeyError:
            load_error = next((e.message for e in self._errors
                               if e.kind == kind and e.name == name), None)
            raise UnknownPlugin(kind, name, self.names(kind), load_error) from None

    def default(self, kind: str) -> str:
        """Name of the default plugin of ``kind``."""
        self._check_kind(kind)
        return DEFAULT_PLUGINS[kind]

    def validate_config(self, kind: str, name: str, config: Mapping[str, Any] | None
                        ) -> dict[str, Any]:
        """Load ``config`` through the plugin's schema: the config with defaults filled.

        Raises :class:`UnknownPlugin` for an unknown name and :class:`PluginConfigError`
        (naming plugin and fields) for an invalid config. ``None`` means ``{}``.
        """
        info = self.info(kind, name)
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            raise PluginConfigError(kind, name, {"_schema": ["config must be a JSON object"]})
        try:
            loaded = info.cls.config_schema().load(dict(config))
        except marshmallow.ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {
                "_schema": exc.messages}
            raise PluginConfigError(kind, name, messages) from None
        except Exception as exc:  # a bug in the plugin's schema, not in the config
            raise PluginConfigError(kind, name, {
                "_schema": [f"the plugin's config schema failed: {exc!r}"]}) from exc
        return dict(loaded)

    def create(self, kind: str, name: str, config: Mapping[str, Any] | None = None,
               app_config: Mapping[str, Any] | None = None, **options: Any) -> Plugin:
        """Validate ``config`` and build the plugin with it and the settings it declares.

        ``app_config`` is the merged configuration (or a Flask config holding it under
        ``LTS``): the plugin receives only the part its class declares. ``options`` are
        keyword arguments of the kind's constructor (the aaa kind's ``clock``).
        """
        info = self.info(kind, name)
        loaded = self.validate_config(kind, name, config)
        try:
            return info.cls(loaded, self.plugin_settings(kind, name, app_config), **options)
        except PluginError:
            raise
        except Exception as exc:  # a plugin's constructor may fail in any way
            raise PluginError(f"{kind} plugin {name!r} could not be created: {exc!r}"
                              ) from exc

    def plugin_settings(self, kind: str, name: str,
                        app_config: Mapping[str, Any] | None) -> dict[str, Any]:
        """The global settings plugin ``name`` may see: those its class declares, no more.

        A declared setting missing from the configuration gets its declared default.
        """
        values = _settings(app_config)
        return {s.name: values.get(s.name, s.default) for s in self.info(kind, name).cls.settings}

    def config_json_schema(self, kind: str, name: str) -> dict[str, Any]:
        """JSON Schema of the plugin's config, for forms and API documentation."""
        info = self.info(kind, name)
        result = schema_to_json(info.cls.config_schema)
        result["title"] = f"{name} ({kind} plugin)"
        if info.description:
            result["description"] = info.description
        return result

    def _check_kind(self, kind: str) -> None:
        """Refuse a kind that does not exist, naming the real ones."""
        if kind not in PLUGIN_KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(PLUGIN_KINDS)}")


def get_registry(app: Any) -> PluginRegistry:
    """Return the registry of ``app``, discovered on first use, cached in ``app.extensions``."""
    registry = app.extensions.get(EXTENSION_KEY)
    if registry is None:
        registry = PluginRegistry.discover(app.config.get("LTS", app.config))
        app.extensions[EXTENSION_KEY] = registry
    return registry


class SettingsDiscovery:
    """The ``plugin_settings`` callback of :func:`lts.config.merge_config`.

    Called only when a configuration holds keys LTS does not know: it discovers the
    plugins (safe mode as merged so far) and keeps that registry, so the app built from
    the configuration need not discover them a second time.
    """

    def __init__(self) -> None:
        self.registry: PluginRegistry | None = None

    def __call__(self, core: Mapping[str, Any]) -> dict[str, Setting]:
        """Discover the plugins and return the settings they declare."""
        self.registry = PluginRegistry.discover(core)
        return self.registry.declared_settings()


def reload_registry(app: Any) -> PluginRegistry:
    """Discover the plugins of ``app`` again, now, and use the new registry from here on.

    Distributions installed since the last discovery appear (import caches are
    invalidated first). Python cannot honestly swap code it already imported: a plugin
    whose module was loaded before keeps running that code until LTS restarts, and such
    an upgrade is reported in the new registry's errors.
    """
    importlib.invalidate_caches()
    previous = app.extensions.get(EXTENSION_KEY)
    registry = PluginRegistry.discover(app.config.get("LTS", app.config), previous=previous)
    app.extensions[EXTENSION_KEY] = registry
    return registry


def lts_version() -> str:
    """The installed LTS distribution's version (the package's own when not installed)."""
    try:
        return metadata.version(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:
        return __version__


def _distribution_version(dist: Any) -> str:
    """Version of the distribution an entry point came from, or ``unknown``."""
    try:
        return str(dist.version) if dist is not None else "unknown"
    except Exception:  # broken metadata must not stop discovery
        return "unknown"


# ------------------------------------------------------------------ JSON Schema


_SIMPLE_TYPES: tuple[tuple[type[mf.Field], dict[str, Any]], ...] = (
    (mf.Boolean, {"type": "boolean"}),
    (mf.Integer, {"type": "integer"}),
    (mf.Number, {"type": "number"}),  # Float and Decimal
    (mf.AwareDateTime, {"type": "string", "format": "date-time"}),
    (mf.DateTime, {"type": "string", "format": "date-time"}),
    (mf.Date, {"type": "string", "format": "date"}),
    (mf.Email, {"type": "string", "format": "email"}),
    (mf.Url, {"type": "string", "format": "uri"}),
    (mf.String, {"type": "string"}),
)


def _jsonable(value: Any) -> Any:
    """Return a default value as JSON can carry it, or ``...`` when it cannot."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        items = [_jsonable(v) for v in value]
        return ... if any(i is ... for i in items) else items
    if isinstance(value, Mapping):
        converted = {str(k): _jsonable(v) for k, v in value.items()}
        return ... if any(v is ... for v in converted.values()) else converted
    return ...


def field_to_json(field_obj: mf.Field) -> dict[str, Any]:
    """JSON Schema of one marshmallow field: type, default, description, enum, bounds."""
    result: dict[str, Any] = {}
    if isinstance(field_obj, mf.Nested):
        nested = field_obj.schema
        result = schema_to_json(type(nested) if isinstance(nested, marshmallow.Schema)
                                else nested)
        if field_obj.many:
            result = {"type": "array", "items": result}
    elif isinstance(field_obj, mf.List):
        result = {"type": "array", "items": field_to_json(field_obj.inner)}
    elif isinstance(field_obj, mf.Tuple):
        result = {"type": "array",
                  "prefixItems": [field_to_json(f) for f in field_obj.tuple_fields]}
    elif isinstance(field_obj, mf.Dict):
        result = {"type": "object"}
        if field_obj.value_field is not None:
            result["additionalProperties"] = field_to_json(field_obj.value_field)
    else:
        for field_type, schema in _SIMPLE_TYPES:
            if isinstance(field_obj, field_type):
                result = dict(schema)
                break
    if field_obj.allow_none and "type" in result:
        result["type"] = [result["type"], "null"]
    default = field_obj.load_default
    if default is not marshmallow.missing and not callable(default):
        converted = _jsonable(default)
        if converted is not ...:
            result["default"] = converted
    metadata_ = field_obj.metadata or {}
    for key in ("description", "title", "examples"):
        if key in metadata_:
            result[key] = metadata_[key]
    for validator in field_obj.validators:
        _apply_validator(result, validator)
    return result


def _apply_validator(result: dict[str, Any], validator: Any) -> None:
    """Translate the marshmallow validators JSON Schema can express."""
    if isinstance(validator, mv.OneOf):
        result["enum"] = [_jsonable(c) for c in validator.choices]
    elif isinstance(validator, mv.Range):
        if validator.min is not None:
            key = "minimum" if validator.min_inclusive else "exclusiveMinimum"
            result[key] = validator.min
        if validator.max is not None:
            key = "maximum" if validator.max_inclusive else "exclusiveMaximum"
            result[key] = validator.max
    elif isinstance(validator, mv.Length):
        is_array = result.get("type") == "array"
        low, high = ("minItems", "maxItems") if is_array else ("minLength", "maxLength")
        if validator.equal is not None:
            result[low] = result[high] = validator.equal
        else:
            if validator.min is not None:
                result[low] = validator.min
            if validator.max is not None:
                result[high] = validator.max
    elif isinstance(validator, mv.Regexp):
        result["pattern"] = validator.regex.pattern


def schema_to_json(schema_cls: type[marshmallow.Schema]) -> dict[str, Any]:
    """JSON Schema (draft 2020-12 subset) of a marshmallow schema class."""
    schema = schema_cls()
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field_name, field_obj in schema.fields.items():
        if field_obj.dump_only:
            continue
        key = field_obj.data_key or field_name
        properties[key] = field_to_json(field_obj)
        if field_obj.required:
            required.append(key)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    unknown = getattr(schema, "unknown", marshmallow.RAISE)
    if unknown == marshmallow.RAISE:
        result["additionalProperties"] = False
    doc = inspect.getdoc(schema_cls)
    if doc and schema_cls.__doc__ is not None and "__doc__" in schema_cls.__dict__:
        result["description"] = doc.splitlines()[0]
    return result
