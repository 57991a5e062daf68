"""What differs per kind of run, as ``loop.Task`` subclasses: ``image_folder`` (class folders), ``two_branch``
(pseudo-Siamese: two folders, two encoders) and ``table`` (CSV tables of texts, dialogs or images)."""
