"""Resource profiles: what a job or kernel pod gets (image, CPU, memory, GPUs, placement).

Operators configure a list of plain dicts (`c.JupyterK8s.profiles = [...]`); `load_profiles`
validates it once, at start-up, and names the profile and field of any mistake, so a typo
fails the server start rather than the first user's submit. Users only pick a profile by name.

`pod_overrides` is an escape hatch merged into the pod spec; it is checked so that it cannot
take the pod out of the Pod Security "restricted" profile (host namespaces, privilege).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ValidationProblem
from .k8s.quantity import parse_quantity
from .names import is_label
from .queues.names import check_kueue_name

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"

_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_NAME_PART = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_RESOURCE_NAME = re.compile(rf"(?P<domain>{_DNS_SUBDOMAIN})/(?P<name>{_NAME_PART})")
_LABEL_KEY = re.compile(rf"(({_DNS_SUBDOMAIN})/)?{_NAME_PART}")
_LABEL_VALUE = re.compile(rf"({_NAME_PART})?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Pod spec keys that share a host namespace: never allowed in overrides, whatever the value.
_FORBIDDEN_POD_KEYS = ("hostNetwork", "hostPID", "hostIPC", "hostUsers")
# Capabilities the "restricted" profile allows a container to add.
_ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}


class ProfileError(ValueError):
    """The configured profiles are invalid; the message names the profile and the field."""


class UnknownProfile(ValidationProblem):
    """A request named a profile that is not configured."""

    def __init__(self, name: str, available: list[str]):
        choices = ", ".join(available) or "none configured"
        super().__init__(f"unknown profile {name!r}; available profiles: {choices}", "profile")
        self.name = name
        self.available = available


def _check_quantity(value: str) -> str:
    if parse_quantity(value) <= 0:  # parse_quantity raises ValueError with the reason
        raise ValueError(f"quantity {value!r} must be greater than zero")
    return value


def _check_resource_name(value: str) -> str:
    match = _RESOURCE_NAME.fullmatch(value)
    if not match or len(match["domain"]) > 253 or len(match["name"]) > 63:
        raise ValueError(
            f"{value!r} is not an extended resource name such as 'nvidia.com/gpu' or "
            "'amd.com/gpu' (domain/name)"
        )
    return value


class Toleration(BaseModel):
    """A pod toleration, as in the Kubernetes API (camelCase accepted too)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator 'Exists' takes no value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without key must use operator 'Exists'")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds only applies to effect 'NoExecute'")
        return self

    def to_k8s(self) -> dict[str, Any]:
        """The dict the pod spec's `tolerations` list takes (unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


#: A profile's max_parallelism when it names none.
DEFAULT_MAX_PARALLELISM = 4


class Profile(BaseModel):
    """One resource profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    display_name: str = ""
    description: str = ""
    image: str | None = None
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    gpus: int = Field(default=0, ge=0)
    gpu_resource: str = DEFAULT_GPU_RESOURCE
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    runtime_class_name: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    pod_overrides: dict[str, Any] = Field(default_factory=dict)
    default: bool = False
    #: How many indexes of a sweep may run at once (a user asking more gets this many).
    max_parallelism: int = Field(default=DEFAULT_MAX_PARALLELISM, ge=1, le=1000)
    #: What an hour of this profile costs (any currency, the operator's): the provenance
    #: stamp of each executed notebook then says what the run cost. None: no cost shown.
    cost_per_hour: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Kueue (docs/queues.md): the LocalQueue its jobs join by default (None: not queued), the
    #: other LocalQueues a request may name, the WorkloadPriorityClass they get by default and
    #: the others a request may name.
    queue: str | None = None
    queues: list[str] = Field(default_factory=list)
    priority_class: str | None = None
    priority_classes: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_label(value):
            raise ValueError(
                f"{value!r} is not a valid profile name: use lowercase letters, digits and '-' "
                "(at most 63, starting and ending with a letter or digit)"
            )
        return value

    @field_validator("image", "runtime_class_name")
    @classmethod
    def _no_blank(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} must be non-empty and contain no spaces")
        return value

    @field_validator("cpu_request", "cpu_limit", "memory_request", "memory_limit", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str | None:
        # Numbers are accepted as YAML/JSON gives them (cpu_request: 2); bools are a mistake.
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{value!r} is not a quantity such as '500m', '2' or '4Gi'")
        return _check_quantity(str(value))

    @field_validator("gpu_resource")
    @classmethod
    def _gpu_resource(cls, value: str) -> str:
        return _check_resource_name(value)

    @field_validator("node_selector")
    @classmethod
    def _node_selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not _LABEL_KEY.fullmatch(key) or len(key.rsplit("/", 1)[-1]) > 63:
                raise ValueError(f"{key!r} is not a valid node label key")
            if len(val) > 63 or not _LABEL_VALUE.fullmatch(val):
                raise ValueError(f"{val!r} (for {key!r}) is not a valid node label value")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return value

    @field_validator("pod_overrides")
    @classmethod
    def _pod_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = list(unsafe_pod_overrides(value))
        if problems:
            raise ValueError(
                "pod_overrides would break the 'restricted' pod security profile: "
                + "; ".join(problems)
            )
        return value

    @field_validator("queue", "priority_class")
    @classmethod
    def _kueue_name(cls, value: str | None) -> str | None:
        return None if value is None else check_kueue_name(value)

    @field_validator("queues", "priority_classes")
    @classmethod
    def _kueue_names(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(check_kueue_name(v) for v in value))

    @model_validator(mode="after")
    def _priority_needs_a_queue(self) -> Profile:
        if (self.priority_class or self.priority_classes) and not (self.queue or self.queues):
            raise ValueError(
                "priority_class and priority_classes need a queue (a Kueue LocalQueue): a "
                "WorkloadPriorityClass only orders work inside Kueue's queues"
            )
        return self

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Profile:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if request and limit and parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"{kind}_request {request} is larger than {kind}_limit {limit}")
        return self

    @property
    def title(self) -> str:
        """What a UI shows: display_name, or the name when none was given."""
        return self.display_name or self.name

    def resources(self) -> dict[str, Any]:
        """The container's requests/limits; GPUs (extended resources) as a limit only."""
        requests = {
            k: v for k, v in (("cpu", self.cpu_request), ("memory", self.memory_request)) if v
        }
        limits = {k: v for k, v in (("cpu", self.cpu_limit), ("memory", self.memory_limit)) if v}
        if self.gpus:
            limits[self.gpu_resource] = str(self.gpus)
        return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}

    def placement(self) -> dict[str, Any]:
        """Where its pods go: the pod spec's nodeSelector, tolerations and runtimeClassName."""
        placement: dict[str, Any] = {}
        if self.node_selector:
            placement["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            placement["tolerations"] = [t.to_k8s() for t in self.tolerations]
        if self.runtime_class_name:
            placement["runtimeClassName"] = self.runtime_class_name
        return placement

    @property
    def queue_choices(self) -> list[str]:
        """Every LocalQueue a request may name: the default first."""
        return list(dict.fromkeys([*([self.queue] if self.queue else []), *self.queues]))

    @property
    def priority_class_choices(self) -> list[str]:
        """Every WorkloadPriorityClass a request may name: the default first."""
        first = [self.priority_class] if self.priority_class else []
        return list(dict.fromkeys([*first, *self.priority_classes]))

    def _allowed(self, field: str, value: str | None, choices: list[str], what: str) -> str | None:
        """`value` when the profile allows it (None stays None); a ValidationProblem otherwise."""
        if value and value not in choices:
            allowed = ", ".join(choices)
            raise ValidationProblem(
                f"{field} {value!r} is not one profile {self.name!r} allows"
                + (f"; allowed: {allowed}" if allowed else f": it names no {what}"),
                field=field,
            )
        return value

    def pick_queue(
        self, queue: str | None, priority_class: str | None
    ) -> tuple[str | None, str | None]:
        """The LocalQueue and WorkloadPriorityClass of a request (None: the profile's), each
        one the profile allows; a ValidationProblem naming the field otherwise."""
        chosen = self._allowed("queue", queue, self.queue_choices, "queue") or self.queue
        priority = (
            self._allowed(
                "priority_class", priority_class, self.priority_class_choices, "priority class"
            )
            or self.priority_class
        )
        if priority and not chosen:
            raise ValidationProblem(
                f"priority_class {priority!r} needs a queue: profile {self.name!r} puts jobs "
                f"in none by default; name one of {', '.join(self.queue_choices)} in `queue`",
                field="priority_class",
            )
        return chosen, priority

    def public(self) -> dict[str, Any]:
        """The profile as the REST API shows it to users (no overrides, env or placement)."""
        return {
            "name": self.name,
            "display_name": self.title,
            "description": self.description,
            "image": self.image,
            "cpu": self.cpu_request or self.cpu_limit,
            "memory": self.memory_request or self.memory_limit,
            "gpus": self.gpus,
            "gpu_resource": self.gpu_resource,
            "default": self.default,
            # the submit dialog proposes and bounds a sweep's parallelism by it
            "max_parallelism": self.max_parallelism,
            # Kueue: the default LocalQueue and WorkloadPriorityClass, and every choice
            # (the default first) the submit form may offer
            "queue": self.queue,
            "queues": self.queue_choices,
            "priority_class": self.priority_class,
            "priority_classes": self.priority_class_choices,
        }


def unsafe_pod_overrides(overrides: dict[str, Any]) -> Iterator[str]:
    """Why `overrides` (merged into a pod spec) would weaken the pod, one reason per problem."""
    for key in _FORBIDDEN_POD_KEYS:
        if key in overrides:
            yield f"'{key}' may not be set"
    yield from _unsafe_security_context(overrides.get("securityContext"), "securityContext")
    for group in ("containers", "initContainers", "ephemeralContainers"):
        for i, ctr in enumerate(overrides.get(group) or []):
            where = f"{group}[{i}]"
            if not isinstance(ctr, dict):
                yield f"{where} must be a mapping"
                continue
            ctx = ctr.get("securityContext")
            yield from _unsafe_security_context(ctx, f"{where}.securityContext")
            for port in ctr.get("ports") or []:
                if isinstance(port, dict) and port.get("hostPort"):
                    yield f"{where}.ports may not use hostPort"
    for i, vol in enumerate(overrides.get("volumes") or []):
        if isinstance(vol, dict) and "hostPath" in vol:
            yield f"volumes[{i}] may not be a hostPath volume"


def _unsafe_security_context(ctx: Any, where: str) -> Iterator[str]:
    if ctx is None:
        return
    if not isinstance(ctx, dict):
        yield f"{where} must be a mapping"
        return
    if ctx.get("privileged"):
        yield f"{where}.privileged may not be true"
    if ctx.get("allowPrivilegeEscalation"):
        yield f"{where}.allowPrivilegeEscalation may not be true"
    if ctx.get("runAsNonRoot") is False:
        yield f"{where}.runAsNonRoot may not be false"
    if ctx.get("runAsUser") == 0:
        yield f"{where}.runAsUser may not be 0 (root)"
    added = set((ctx.get("capabilities") or {}).get("add") or []) - _ALLOWED_CAPABILITIES
    if added:
        yield f"{where}.capabilities.add may not add {sorted(added)}"
    if "procMount" in ctx and ctx["procMount"] != "Default":
        yield f"{where}.procMount may not be changed"
    seccomp = (ctx.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        yield f"{where}.seccompProfile may not be Unconfined"
    apparmor = (ctx.get("appArmorProfile") or {}).get("type")
    if apparmor == "Unconfined":
        yield f"{where}.appArmorProfile may not be Unconfined"


class ProfileSet:
    """The validated profiles, in configured order, with exactly one default."""

    def __init__(self, profiles: list[Profile]):
        if not profiles:
            raise ProfileError("no profiles configured")
        defaults = [p for p in profiles if p.default]
        if len(defaults) > 1:
            names = ", ".join(repr(p.name) for p in defaults)
            raise ProfileError(f"only one profile may be the default, but {names} all are")
        if not defaults:  # the first one, so an operator needs to mark nothing
            profiles = [profiles[0].model_copy(update={"default": True}), *profiles[1:]]
        self._profiles = {p.name: p for p in profiles}

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._profiles.values())

    def __len__(self) -> int:
        return len(self._profiles)

    def names(self) -> list[str]:
        return list(self._profiles)

    @property
    def default(self) -> Profile:
        return next(p for p in self._profiles.values() if p.default)

    def get(self, name: str | None = None) -> Profile:
        """The profile called `name`, or the default for None/""; UnknownProfile otherwise."""
        if not name:
            return self.default
        try:
            return self._profiles[name]
        except KeyError:
            raise UnknownProfile(name, self.names()) from None

    def public(self) -> list[dict[str, Any]]:
        return [p.public() for p in self._profiles.values()]


#: Used when the operator configures no profiles: a plain CPU one (default) and one GPU.
BUILTIN_PROFILES: list[dict[str, Any]] = [
    {
        "name": "cpu",
        "display_name": "CPU",
        "description": "Half a CPU (up to 2), 1 GiB memory (up to 2 GiB)",
        "cpu_request": "500m",
        "cpu_limit": "2",
        "memory_request": "1Gi",
        "memory_limit": "2Gi",
        "default": True,
    },
    {
        "name": "gpu",
        "display_name": "GPU",
        "description": "1 NVIDIA GPU, 1 CPU (up to 4), 4 GiB memory (up to 16 GiB)",
        "cpu_request": "1",
        "cpu_limit": "4",
        "memory_request": "4Gi",
        "memory_limit": "16Gi",
        "gpus": 1,
        "gpu_resource": DEFAULT_GPU_RESOURCE,
    },
]


def default_image() -> str | None:
    """The image the Jupyter server itself runs in, as JupyterHub's KubeSpawner tells it.

    KubeSpawner sets JUPYTER_IMAGE_SPEC (and JUPYTER_IMAGE) in the single-user pod; running
    jobs in the same image means the notebook finds the same packages.
    """
    for var in ("JUPYTER_IMAGE_SPEC", "JUPYTER_IMAGE"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def _describe(profile_name: str, error: ValidationError) -> str:
    parts = []
    for err in error.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(profile)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"field {field!r}: {msg}")
    return f"profile {profile_name!r}: " + "; ".join(parts)


def load_profiles(raw: list[dict[str, Any]] | None, default_image: str | None) -> ProfileSet:
    """Validate configured profiles (BUILTIN_PROFILES when empty) into a ProfileSet.

    Profiles without an image get `default_image`; the image may still be None, in which
    case the service must have another default or reject the submit.
    """
    if not raw:
        raw = BUILTIN_PROFILES
    if not isinstance(raw, list):
        raise ProfileError(f"profiles must be a list of mappings, not {type(raw).__name__}")
    profiles: list[Profile] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ProfileError(f"profile #{i + 1} must be a mapping, not {type(item).__name__}")
        label = str(item.get("name") or f"#{i + 1}")
        try:
            profile = Profile.model_validate(item)
        except ValidationError as exc:
            raise ProfileError(_describe(label, exc)) from None
        if profile.name in seen:
            raise ProfileError(f"profile {profile.name!r}: field 'name': defined twice")
        seen.add(profile.name)
        if profile.image is None and default_image:
            profile = profile.model_copy(update={"image": default_image})
        profiles.append(profile)
    return ProfileSet(profiles)
