"""Customers and orders: read, and create/update for integrations that push CRM data."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from customers import selectors, services
from customers.models import Customer, Order
from customers.serializers import InteractionPageInput, InteractionPageOutput
from helpdesk.api.fields import CleanCharField, MetadataField
from helpdesk.api.filters import BoundedSearchFilter, IdFilter, UtcDateTimeFilter
from helpdesk.api.schema import error_response
from helpdesk.api.utils import validated
from helpdesk.auth import ScopeRequired, actor_of

INTERACTIONS_UNAVAILABLE = error_response(
    503, "`interaction_store_unavailable`: the interaction store cannot be read now."
)
DUPLICATE_CUSTOMER = error_response(
    409, "`conflict`: another customer has this e-mail or external id."
)


class CustomerOutput(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "email",
            "external_id",
            "name",
            "phone",
            "tier",
            "locale",
            "metadata",
            "created_at",
            "updated_at",
        ]


class CustomerInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    external_id = CleanCharField(max_length=128, required=False, allow_blank=True)
    name = CleanCharField(max_length=200, required=False, allow_blank=True)
    phone = CleanCharField(max_length=40, required=False, allow_blank=True)
    tier = serializers.ChoiceField(choices=Customer.Tier.choices, required=False)
    locale = CleanCharField(max_length=16, required=False)
    metadata = MetadataField()


class CustomerFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(method="filter_email")

    class Meta:
        model = Customer
        fields = ["email", "external_id", "tier"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(email=services.normalize_email(value))


class CustomerListApi(GenericAPIView):
    permission_classes = [ScopeRequired]
    queryset = selectors.customer_list()
    serializer_class = CustomerOutput
    filterset_class = CustomerFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, BoundedSearchFilter]
    search_fields = ["email", "name", "external_id"]

    @extend_schema(responses=CustomerOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(CustomerOutput(page, many=True).data)

    @extend_schema(request=CustomerInput, responses={201: CustomerOutput, 409: DUPLICATE_CUSTOMER})
    def post(self, request):
        data = validated(CustomerInput, request.data)
        customer = services.customer_create(**data)
        return Response(CustomerOutput(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailApi(GenericAPIView):
    permission_classes = [ScopeRequired]
    queryset = selectors.customer_list()
    serializer_class = CustomerOutput

    def get(self, request, pk: int):
        return Response(CustomerOutput(self.get_object()).data)

    @extend_schema(request=CustomerInput, responses={200: CustomerOutput, 409: DUPLICATE_CUSTOMER})
    def patch(self, request, pk: int):
        customer = self.get_object()
        data = validated(CustomerInput, request.data, partial=True)
        customer = services.customer_update(customer=customer, actor=actor_of(request), **data)
        return Response(CustomerOutput(customer).data)


class CustomerInteractionsApi(GenericAPIView):
    """The customer's whole interaction log, a page at a time (the customer 360 shows the
    newest RECENT_INTERACTIONS)."""

    permission_classes = [ScopeRequired]
    queryset = selectors.customer_list()

    @extend_schema(
        parameters=[InteractionPageInput],
        responses={200: InteractionPageOutput, 503: INTERACTIONS_UNAVAILABLE},
    )
    def get(self, request, pk: int):
        data = validated(InteractionPageInput, request.query_params, query=True)
        customer = self.get_object()
        return Response(selectors.interaction_page(customer_id=customer.pk, **data))


class LineItem(serializers.Serializer):
    sku = CleanCharField(max_length=64)
    name = CleanCharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)


class OrderOutput(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = [
            "id",
            "customer",
            "number",
            "status",
            "total",
            "currency",
            "placed_at",
            "line_items",
            "created_at",
            "updated_at",
        ]


class OrderInput(serializers.Serializer):
    customer_id = serializers.IntegerField(min_value=1)
    number = CleanCharField(max_length=64)
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    placed_at = serializers.DateTimeField()
    line_items = LineItem(many=True, required=False)

    def validate_line_items(self, items):
        # Stored as JSON: Decimals become strings so nothing is lost to floats.
        return [{**item, "unit_price": str(item["unit_price"])} for item in items]


class OrderUpdateInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)


class OrderFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    placed_after = UtcDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = UtcDateTimeFilter(field_name="placed_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["customer", "status", "number"]


class OrderListApi(GenericAPIView):
    permission_classes = [ScopeRequired]
    queryset = selectors.order_list()
    serializer_class = OrderOutput
    filterset_class = OrderFilter

    @extend_schema(responses=OrderOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(OrderOutput(page, many=True).data)

    @extend_schema(
        request=OrderInput,
        responses={
            201: OrderOutput,
            409: error_response(409, "`conflict`: another order has this number."),
        },
    )
    def post(self, request):
        data = validated(OrderInput, request.data)
        customer = Customer.objects.filter(pk=data.pop("customer_id")).first()
        if customer is None:
            raise serializers.ValidationError({"customer_id": ["No customer with this id."]})
        order = services.order_create(customer=customer, actor=actor_of(request), **data)
        return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(GenericAPIView):
    permission_classes = [ScopeRequired]
    queryset = selectors.order_list()
    serializer_class = OrderOutput

    def get(self, request, pk: int):
        return Response(OrderOutput(self.get_object()).data)

    @extend_schema(request=OrderUpdateInput, responses=OrderOutput)
    def patch(self, request, pk: int):
        order = get_object_or_404(Order, pk=pk)
        data = validated(OrderUpdateInput, request.data, partial=True)
        order = services.order_update(order=order, actor=actor_of(request), **data)
        return Response(OrderOutput(order).data)
