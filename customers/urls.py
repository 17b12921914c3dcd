from django.urls import path

from customers import apis

urlpatterns = [
    path("customers", apis.CustomerListApi.as_view(), name="customer-list"),
    path("customers/<int:pk>", apis.CustomerDetailApi.as_view(), name="customer-detail"),
    path(
        "customers/<int:pk>/interactions",
        apis.CustomerInteractionsApi.as_view(),
        name="customer-interactions",
    ),
    path("orders", apis.OrderListApi.as_view(), name="order-list"),
    path("orders/<int:pk>", apis.OrderDetailApi.as_view(), name="order-detail"),
]
