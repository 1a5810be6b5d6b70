"""The training stages beyond SFT, one module each (``train.stage``; registered by ``ftcore.builtin.stages``).

``preference`` holds what the pairwise stages share (:class:`~ftcore.training.stages.preference.PreferenceRecipe`,
:class:`~ftcore.training.stages.preference.PreferenceTrainer`, the pair batches and log-probs, the reference
model); ``dpo`` is DPO. Nothing is imported here: a stage's module loads when a run selects it.
"""
