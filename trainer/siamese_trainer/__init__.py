"""siamese-trainer: train Siamese (contrastive) and Triplet encoders in PyTorch.

Needs the ``train`` extra (``pip install 'siamese-sdk[train]'``). The modules, one concept each:

- ``config``: ``TrainConfig`` (every flag), ``--preset`` recipes, the per-architecture defaults table;
- ``train``: ``train()``, the entry point that picks the kind of run; ``cli``: ``siamese-train``;
- ``loop``: the one training loop (resume and schedule re-plan, best.pt, patience, metrics.json);
- ``tasks``: what differs per kind: ``image_folder``, ``two_branch`` (pseudo-Siamese), ``table`` (CSV);
- ``checkpoint``: the ``model.pt`` schema, save/load (atomic; ``weights_only``), ``build_encoder``;
- ``models``: encoders (``convnet4``, ``koch``, ``signet``, user backbones, BiLSTM text/dialog) and the learned head;
- ``losses``: contrastive, triplet, NT-Xent, cross-branch; ``miners``: pair and triplet mining in a batch;
- ``distances``: Euclidean and cosine distances in torch;
- ``data``: image folders, CSV tables, the P x K sampler, the validation data export reads;
- ``evaluate``: validation AUC/EER on all pairs of unseen classes; ``distributed``: torchrun (DDP);
- ``bench_torch``: torch eager throughput of a checkpoint (``siamese bench --torch``).
"""
