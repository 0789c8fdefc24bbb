"""GGUF files: reading a model's or an adapter's header and checking it before llama.cpp sees it.

Modules: :mod:`~ragtune.gguf.summary` (:class:`GGUFSummary`, ``read_summary`` and its cache),
:mod:`~ragtune.gguf.files` (``check_model_file``, ``check_adapter_file``),
:mod:`~ragtune.gguf.keys` (the table of header keys llama.cpp reads: data),
:mod:`~ragtune.gguf.checker` (applying that table to a header), :mod:`~ragtune.gguf.model_header`
(a model's cross-rules, tokenizer and shapes), :mod:`~ragtune.gguf.tensors` (the tensor table and
the NaN/Inf scan) and :mod:`~ragtune.gguf.sha` (sha256 and its cache). Import from them.
"""
