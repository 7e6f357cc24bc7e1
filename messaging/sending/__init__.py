"""The one send path (docs/sending.md): every outbound message is created and sent through here.

Public entry points (import them from these modules, not from this package):

- ``messaging.sending.service.send_message`` — refuse (``ApplicationError``) or queue a message.
- ``messaging.sending.failures.handle_meta_error`` — act on a classified Meta error, from an
  HTTP answer or from a ``failed`` status webhook (one table, ``cloud_api.errors``).
- ``messaging.sending.halt`` — ``active_halt``, ``halt_sending``, ``clear_halt``.
- ``messaging.sending.dispatch.send_queued`` — claim one queued message and send it (the task).
"""
