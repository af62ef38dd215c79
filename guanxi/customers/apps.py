from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _search_index_ensure(sender, using="default", **kwargs):  # noqa: ANN001, ANN003 - a signal receiver
    # SQLite drops a table's triggers when a migration remakes the table: put the search triggers back. Both
    # databases: build the search indexes an interrupted large import left out (search.search_indexes_defer).
    from django.db import connections

    from guanxi.customers.search import search_indexes_ensure

    search_indexes_ensure(connections[using])


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        post_migrate.connect(_search_index_ensure, sender=self, dispatch_uid="customers_search_index_ensure")
