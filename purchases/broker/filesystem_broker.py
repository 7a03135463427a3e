"""kombu's filesystem transport, with each message file complete before a reader can see it.

The stock transport creates the message file, then writes it; a reader polling at that
moment moves the empty file away and the message is lost. Here the file is written under a
name no reader looks for, then renamed into place, which is atomic. kombu only, no Django:
the web, the worker and analytics all use it in the embedded mode.
"""
from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps



class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, f".part-{uuid.uuid4()}")
        try:
            with open(temp, "wb") as out:
                out.write(dumps(payload).encode())
            os.rename(temp, final)
        except OSError as exc:
            raise ChannelError(f"cannot add file {final!r} to the queue folder: {exc}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
