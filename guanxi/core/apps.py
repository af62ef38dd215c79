from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "guanxi.core"
    label = "core"
    verbose_name = "Guanxi core"

    def ready(self) -> None:
        # PostgreSQL row-level security: keep every tenant table's policy in place after each migrate, and make
        # the connection's session state follow the workspace context (guanxi/core/rls.py).
        from guanxi.core import rls

        post_migrate.connect(rls.on_post_migrate, dispatch_uid="guanxi.core.rls")
