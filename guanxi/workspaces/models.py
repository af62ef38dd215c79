"""Workspaces (tenants), their members, teams, invitations, API keys and role-policy overrides."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel
from guanxi.workspaces.permissions import Module, Role, Scope


class User(AbstractUser):
    """A person who signs in. One user may belong to several workspaces (``Membership``)."""

    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    # Two-factor authentication (TOTP). The secret is stored encrypted (guanxi.core.crypto).
    totp_secret = models.CharField(max_length=255, blank=True)
    totp_enabled = models.BooleanField(default=False)

    class Meta:
        db_table = "workspaces_user"

    def __str__(self) -> str:
        return self.display_name or self.username


class Workspace(models.Model):
    """A workspace (租户): one company using Guanxi. Every tenant-owned row points at one."""

    name = models.CharField(_("company name"), max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    language = models.CharField(_("default language"), max_length=10, default="zh-hans")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Team(TenantModel):
    """A team (团队) of members with a manager, the unit of the 'team' permission scope."""

    name = models.CharField(_("name"), max_length=100)
    manager = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
        verbose_name=_("manager"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="team_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TenantModel):
    """A user's membership of a workspace (成员), with their role and team."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALES)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="memberships",
        verbose_name=_("team"),
    )
    is_active = models.BooleanField(default=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")]
        indexes = [models.Index(fields=["user", "workspace"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.workspace_id} ({self.role})"

    # Cached per request: the permission checks call these many times.
    def policy_overrides(self) -> dict[str, tuple[int, int]]:
        cache = getattr(self, "_policy_cache", None)
        if cache is None:
            rows = RolePolicy.all_workspaces.filter(workspace_id=self.workspace_id, role=self.role)
            cache = {r.module: (r.view_scope, r.edit_scope) for r in rows}
            self._policy_cache = cache
        return cache

    def team_user_ids(self) -> set[int]:
        cache = getattr(self, "_team_cache", None)
        if cache is None:
            team_ids = set(
                Team.all_workspaces.filter(
                    workspace_id=self.workspace_id, manager_id=self.user_id
                ).values_list("id", flat=True)
            )
            if self.team_id:
                team_ids.add(self.team_id)
            cache = {self.user_id}
            if team_ids:
                cache |= set(
                    Membership.all_workspaces.filter(
                        workspace_id=self.workspace_id, team_id__in=team_ids, is_active=True
                    ).values_list("user_id", flat=True)
                )
            self._team_cache = cache
        return cache


class RolePolicy(TenantModel):
    """A workspace's override of a role's view/edit scope on one module (the defaults live in permissions.py)."""

    role = models.CharField(max_length=20, choices=Role.choices)
    module = models.CharField(max_length=30, choices=Module.choices)
    view_scope = models.PositiveSmallIntegerField(choices=Scope.choices)
    edit_scope = models.PositiveSmallIntegerField(choices=Scope.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "role", "module"], name="rolepolicy_unique")
        ]


class Invitation(TenantModel):
    """An invitation by link (邀请) to join a workspace with a role. Only the token's hash is stored."""

    email = models.EmailField(_("email"), blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALES)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)


class ApiKey(TenantModel):
    """A per-user API key (接口密钥), scoped to read or read+write, stored hashed, revocable.

    The key is shown once: ``gx_<prefix>_<secret>``. The prefix finds the row; the SHA-256 of the whole key is
    compared in constant time.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "user"], name="apikey_ws_user_idx")]
