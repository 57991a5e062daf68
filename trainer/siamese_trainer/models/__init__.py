"""Encoders and heads: image CNNs (``encoders``, ``signet``, user ``backbones``), the BiLSTM text/dialog
encoders (``text_encoders``) and the learned pair head (``heads``). ``checkpoint.build_encoder`` rebuilds
any of them from a checkpoint's ``model`` entry."""
