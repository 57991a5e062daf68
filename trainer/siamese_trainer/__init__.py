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

from siamese_sdk._moved import register as _register

# Old module paths keep importing (the modules moved into models/, data/ and tasks/).
_register(
    {
        "siamese_trainer.encoders": ["siamese_trainer.models.encoders"],
        "siamese_trainer.backbones": ["siamese_trainer.models.backbones"],
        "siamese_trainer.signet": ["siamese_trainer.models.signet"],
        "siamese_trainer.text_encoders": ["siamese_trainer.models.text_encoders"],
        "siamese_trainer.heads": ["siamese_trainer.models.heads"],
        "siamese_trainer.tables": ["siamese_trainer.data.tables"],
        "siamese_trainer.paraphrase_data": ["siamese_trainer.data.paraphrase_data"],
        "siamese_trainer.sampling": ["siamese_trainer.data.sampling"],
        "siamese_trainer.table_train": [
            "siamese_trainer.tasks.table",
            "siamese_trainer.data.table_items",
            "siamese_trainer.data.table_split",
            "siamese_trainer.data.validation",
            "siamese_trainer.config",
        ],
        "siamese_trainer.pseudo": ["siamese_trainer.tasks.two_branch", "siamese_trainer.losses.cross_branch", "siamese_trainer.evaluate"],
    }
)
