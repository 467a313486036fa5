"""Working with requests as data: the history of calls, code snippets, Postman both ways.

* :mod:`~cerkl_nb.postman.history`: :class:`History` and :class:`HistoryEntry`, the
  bounded log of API calls a client records;
* :mod:`~cerkl_nb.postman.snippets`: one request as code;
* :mod:`~cerkl_nb.postman.export`: a history as a Postman v2.1 collection and environment;
* :mod:`~cerkl_nb.postman.importer`: a Postman collection back into requests to replay;
* :mod:`~cerkl_nb.postman.catalog`: the explorer's endpoint catalogue.
"""
