from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TopItemsRequest(_message.Message):
    __slots__ = ("store_id", "n")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    store_id: int
    n: int
    def __init__(self, store_id: _Optional[int] = ..., n: _Optional[int] = ...) -> None: ...

class ItemCount(_message.Message):
    __slots__ = ("item_id", "quantity")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    item_id: int
    quantity: int
    def __init__(self, item_id: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class TopItemsReply(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ItemCount]
    def __init__(self, items: _Optional[_Iterable[_Union[ItemCount, _Mapping]]] = ...) -> None: ...

class TopStoresRequest(_message.Message):
    __slots__ = ("item_id", "n")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    item_id: int
    n: int
    def __init__(self, item_id: _Optional[int] = ..., n: _Optional[int] = ...) -> None: ...

class StoreCount(_message.Message):
    __slots__ = ("store_id", "quantity")
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    store_id: int
    quantity: int
    def __init__(self, store_id: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class TopStoresReply(_message.Message):
    __slots__ = ("stores",)
    STORES_FIELD_NUMBER: _ClassVar[int]
    stores: _containers.RepeatedCompositeFieldContainer[StoreCount]
    def __init__(self, stores: _Optional[_Iterable[_Union[StoreCount, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsReply(_message.Message):
    __slots__ = ("purchases", "units", "stores", "items", "last_offset", "queries")
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    LAST_OFFSET_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    purchases: int
    units: int
    stores: int
    items: int
    last_offset: int
    queries: int
    def __init__(self, purchases: _Optional[int] = ..., units: _Optional[int] = ..., stores: _Optional[int] = ..., items: _Optional[int] = ..., last_offset: _Optional[int] = ..., queries: _Optional[int] = ...) -> None: ...
