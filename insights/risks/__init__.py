"""Risks: live signals computed from the synced data, the risk register with contingency
plans and history, and the probability x impact matrix.

Pure logic over plain dataclasses with ``now`` and thresholds passed in (``signals``,
``register``'s validation, ``matrix.build_grid``); the functions that read the store live
beside it (``live``, ``register``, ``matrix``, ``goal_view``). Goals are read through the
``goal_facts.GoalFacts`` interface only.
"""
