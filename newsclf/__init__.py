"""newsclf: batch news classification.

A trainer (``trainer``) turns labeled news into a versioned BiLSTM artifact;
Celery workers (``worker``) label articles in padded batches and write labels
and class probabilities to SQL (``schema``). The ``newsclf`` CLI sits on top.
"""

__version__ = "0.1.0"
