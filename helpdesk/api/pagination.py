from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import PageNumberPagination

from helpdesk.api.utils import query_string_extra


class DefaultPagination(PageNumberPagination):
    """Every list's pages; and the list's query string, whose every parameter must be one the
    list takes: `GET /tickets?customer_id=5` (the filter is `customer`) answered every
    customer's tickets, and a script acting on that answer would act on all of them."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        known = self.parameters(view)
        unknown = [
            name
            for name in request.query_params
            if name not in known and not query_string_extra(name)
        ]
        if unknown:
            message = f"Not a parameter this list takes; it takes {', '.join(sorted(known))}."
            raise serializers.ValidationError({name: [message] for name in unknown})
        return super().paginate_queryset(queryset, request, view)

    def parameters(self, view) -> set[str]:
        """The query parameters of `view`'s list: its pages' and its filter backends'."""
        known = {self.page_query_param, self.page_size_query_param}
        for backend in getattr(view, "filter_backends", None) or ():
            filterset = getattr(view, "filterset_class", None)
            if issubclass(backend, DjangoFilterBackend) and filterset is not None:
                known.update(filterset.base_filters)
            elif issubclass(backend, SearchFilter):
                known.add(backend.search_param)
            elif issubclass(backend, OrderingFilter):
                known.add(backend.ordering_param)
        return known
