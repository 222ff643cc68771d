"""Queries of the founder's console, one module per page.

The routes of the same name in :mod:`web.console.routes` call them and only render:

* :mod:`~web.console.queries.inbox` (with :mod:`~web.console.queries.inbox_filters` and
  :mod:`~web.console.queries.search`): the inbox, its export, hand-off requests;
* :mod:`~web.console.queries.conversation`: one conversation, and what the founder records;
* :mod:`~web.console.queries.takeover`: the founder answering instead of the bot;
* :mod:`~web.console.queries.customer` and :mod:`~web.console.queries.customers`: one
  customer's panel, and the customer list;
* :mod:`~web.console.queries.insights`: the charts;
* :mod:`~web.console.queries.teach`: the latest intent corrections;
* :mod:`~web.console.queries.dead_letters`: events the ingest worker could not store;
* :mod:`~web.console.queries.auth`: the founder's account.

Shared: :mod:`~web.console.queries.common` (pages, filter values, risk bands in SQL) and
:mod:`~web.console.queries.live_risk` (the loop's live churn risk, as shown). Lists are
paginated and driven by indexed columns of the store and of the console's facts tables
(:mod:`web.console.facts`); a list reads what each row shows in one query, never one per row.
"""
