"""Serializers that only describe the API in its OpenAPI schema; validation.py validates."""
from rest_framework import serializers


class PurchaseItemSerializer(serializers.Serializer):
    ItemID = serializers.CharField(help_text="A positive integer, as a string or a number.")
    numberOfItems = serializers.IntegerField(
        min_value=1, max_value=10**9,
        help_text='Also accepted under the legacy key "numberOfItems:".',
    )


class PurchaseBodySerializer(serializers.Serializer):
    items = PurchaseItemSerializer(many=True, min_length=1, max_length=100)


class PurchaseCreatedSerializer(serializers.Serializer):
    message = serializers.CharField()
    purchaseID = serializers.UUIDField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class TopItemSerializer(serializers.Serializer):
    itemID = serializers.IntegerField()
    numberOfItems = serializers.IntegerField()


class TopItemsSerializer(serializers.Serializer):
    # "stores" is the seed's key for this list too; kept for its clients.
    stores = TopItemSerializer(many=True)


class TopStoreSerializer(serializers.Serializer):
    storeID = serializers.IntegerField()
    numberOfItems = serializers.IntegerField()


class TopStoresSerializer(serializers.Serializer):
    stores = TopStoreSerializer(many=True)
