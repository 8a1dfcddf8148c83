"""Sleep and auto-delete settings, and a tenant's Argo CD registration."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from vfleet.core.units import CronField, DurationField, TimezoneField
from vfleet.specs.base import Name, Strict, check_labels


class Sleep(Strict):
    """When a tenant sleeps: manually, after inactivity, and/or on a schedule with a wake-up."""

    sleeping: bool = Field(False, description="manual sleep: scaled down until set back to false")
    afterInactivity: DurationField | None = None
    schedule: CronField | None = None
    wakeup: CronField | None = None
    timezone: TimezoneField | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Sleep:
        if self.wakeup is not None and self.schedule is None:
            raise ValueError("'wakeup' needs a sleep 'schedule'")
        if self.timezone is not None and self.schedule is None:
            raise ValueError("'timezone' applies to 'schedule'/'wakeup'; set a schedule or drop it")
        return self


class AutoDelete(Strict):
    """When a tenant is deleted automatically. A tenant's block replaces the project default as a whole;
    `never: true` opts a tenant out of an inherited default (a production tenant, say)."""

    afterInactivity: DurationField | None = None
    expiry: str | None = Field(None, description="RFC 3339 date (2026-12-31) or time with offset")
    never: bool = False

    @field_validator("expiry")
    @classmethod
    def _expiry(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from datetime import date, datetime

        try:
            if "T" in value or " " in value:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError("no offset")
            else:
                date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not an RFC 3339 date (2026-12-31) or time with an offset (2026-12-31T18:00:00Z)"
            ) from exc
        return value

    @model_validator(mode="after")
    def _something(self) -> AutoDelete:
        if self.never and (self.afterInactivity is not None or self.expiry is not None):
            raise ValueError("'never: true' cannot be combined with 'afterInactivity' or 'expiry'")
        if not self.never and self.afterInactivity is None and self.expiry is None:
            raise ValueError("give 'afterInactivity' and/or 'expiry', or 'never: true'")
        return self


class ArgoCDRegistration(Strict):
    """Register the tenant cluster in an Argo CD instance (declared in vfleet.yaml `argocd.instances`).
    A tenant's block replaces the project default as a whole; `never: true` opts a tenant out."""

    instance: Name | None = Field(None, description="the Argo CD instance, by its name in vfleet.yaml")
    project: str = Field("default", min_length=1, description="the Argo CD project the cluster belongs to")
    labels: dict[str, str] = Field(default_factory=dict, description="labels of the cluster Secret (for "
                                   "ApplicationSet cluster generators)")
    never: bool = False

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value)

    @model_validator(mode="after")
    def _coherent(self) -> ArgoCDRegistration:
        if self.never and (self.instance is not None or self.labels):
            raise ValueError("'never: true' cannot be combined with 'instance' or 'labels'")
        if not self.never and self.instance is None:
            raise ValueError("give the Argo CD 'instance' to register in, or 'never: true'")
        return self
