"""Continual-learning methods behind one protocol (:class:`hypercl.methods.base.Method`):
the hypernetwork learner with its output regularizer and task inference, the from-scratch
reference, and the Avalanche baselines."""
