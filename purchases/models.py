"""Purchases as the worker writes them: one row per purchase, one per item line."""
from __future__ import annotations

from django.db import models


class Purchase(models.Model):
    # The purchaseID the API returned; unique, so a redelivered message never adds a row.
    purchase_id = models.UUIDField(unique=True, editable=False)
    store_id = models.PositiveIntegerField()
    customer_id = models.PositiveBigIntegerField()
    date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The admin's store and date filters, and a per-store total.
            models.Index(fields=["store_id", "date"], name="purchase_store_date"),
            models.Index(fields=["date"], name="purchase_date"),
            models.Index(fields=["customer_id"], name="purchase_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_id} store {self.store_id} customer {self.customer_id}"


class PurchaseItem(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="items")
    item_id = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        indexes = [
            # A per-item total reads this index alone.
            models.Index(fields=["item_id", "quantity"], name="purchaseitem_item_qty"),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} x {self.quantity}"


class AnalyticsBacklog(models.Model):
    """Sync mode's outbox: a purchase kept in the transaction that writes it, until the
    broker confirmed it on the analytics stream (purchases/analytics_backlog.py)."""

    purchase_id = models.UUIDField(primary_key=True)
    event = models.JSONField()  # PurchaseEvent.to_dict()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.purchase_id} waiting for analytics since {self.created_at}"


class IdempotencyKey(models.Model):
    """An Idempotency-Key's record when no Redis is configured (purchases/idempotency_table.py)."""

    key_hash = models.CharField(max_length=64, primary_key=True)  # SHA-256 of the key, hex
    fingerprint = models.CharField(max_length=64)  # of the request's path and body
    purchase_id = models.UUIDField()
    done = models.BooleanField(default=False)  # a 201 was sent with purchase_id
    holder = models.UUIDField(null=True)  # the attempt running with the key, if any
    held_until = models.DateTimeField(null=True)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key_hash[:12]}... -> {self.purchase_id}{' (done)' if self.done else ''}"
