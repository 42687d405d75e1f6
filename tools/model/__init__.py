"""The router model's offline tools: training, evaluation and retraining with departments' corrections.

Not part of the installed product (it needs scikit-learn, which the workers do not): run from a checkout with the
``tools`` extra, ``python -m tools.model build|evaluate|retrain``.
"""
