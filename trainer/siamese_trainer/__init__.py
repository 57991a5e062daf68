"""siamese-trainer: train Siamese (contrastive) and Triplet encoders in PyTorch.

Needs the ``train`` extra (``pip install 'siamese-sdk[train]'``). The modules, one concept each:

- ``encoders``: the encoder branch (``convnet4``, ``koch``) and the L2-normalised wrapper;
- ``distances``: Euclidean and cosine distances in torch;
- ``losses``: ``ContrastiveLoss``, ``TripletMarginLoss``;
- ``miners``: balanced pair mining and triplet mining (all, semi-hard, batch-hard) inside a batch;
- ``sampling``: the P x K class-balanced batch sampler;
- ``data``: class-split image datasets, the embedded Omniglot subset, augmentation;
- ``checkpoint``: ``model.pt`` save/load (atomic; ``weights_only`` loading);
- ``evaluate``: validation AUC/EER on all pairs of unseen classes;
- ``train``: the loop (``TrainConfig``, ``train``); ``cli``: ``siamese-train``.
"""
