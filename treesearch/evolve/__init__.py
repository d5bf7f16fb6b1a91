"""Darwin-style evolution on top of :mod:`treesearch.archive`, for two kinds of variant.

* Agents (``treesearch evolve``, :mod:`treesearch.evolve.cli`): configurations of the search — its
  parameters and the LLM policy's prompt templates — changed by a meta-model that reads the logs of
  failed problems (:mod:`~treesearch.evolve.agents`, :mod:`~treesearch.evolve.agent_proposers`).
* Solutions (``strategy="evolve"``, :func:`~treesearch.evolve.solutions.evolve_solution`): programs
  for a problem scored by a number, edited and crossed by a model and scored in the sandbox
  (:mod:`~treesearch.evolve.programs`, :mod:`~treesearch.evolve.program_proposers`,
  :mod:`~treesearch.evolve.scoring`).

Both run the same loop (:mod:`~treesearch.evolve.loop`) and leave the same views of the lineage
(:mod:`~treesearch.evolve.report`). Importing this package loads nothing heavy.
"""
