"""Engines run items and yield their result records: ``local`` (a process pool) and ``ray``
(Ray Data over an actor pool). Each is imported only when chosen, so Ray stays optional."""
