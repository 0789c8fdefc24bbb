"""The PEFT files kept beside each GGUF export (``name.peft/``), and the card's list of an adapter's files.

Engines that take PEFT adapters (vLLM, SGLang, LoRAX) load ``name.peft/``; llama.cpp loads
``name.gguf``. The card names every file with its size and sha256.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ragtune.gguf.sha import sha256_of
from ragtune.training.card import CardFile


def save_peft_folder(model: Any, folder: Path, *, base_model_id: str) -> Path:
    """Save the PEFT adapter (``adapter_model.safetensors`` + ``adapter_config.json``) into ``folder``.

    The config names the base by its registry id, not the temp path transformers loaded it
    from. Written to a sibling temp folder and swapped in, so a failed save leaves any
    previous folder whole: it is moved aside for the swap, moved back when the swap fails,
    and deleted only once the new folder is in place.
    """
    import shutil
    import tempfile

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    old: Path | None = None
    swapped = False
    try:
        config = model.peft_config["default"]
        saved_base = config.base_model_name_or_path
        config.base_model_name_or_path = base_model_id
        try:
            # save_embedding_layers=False: "auto" looks the base id up on the Hugging Face hub.
            model.save_pretrained(str(staging), safe_serialization=True, save_embedding_layers=False)
        finally:
            config.base_model_name_or_path = saved_base
        # PEFT also writes a generic README model card; ragtune's card is name.card.md.
        (staging / "README.md").unlink(missing_ok=True)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / folder.name)
        os.replace(staging, folder)
        swapped = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            if swapped:
                shutil.rmtree(old, ignore_errors=True)
            else:  # the swap failed: the previous folder goes back (if it cannot, it stays aside, whole)
                aside = old / folder.name
                try:
                    if aside.exists() and not folder.exists():
                        os.replace(aside, folder)
                    old.rmdir()  # empty now; kept (OSError) while it still holds the old files
                except OSError:
                    pass
    return folder


def card_files(adapter_path: Path, peft_dir: Path) -> list[CardFile]:
    """The GGUF export and the PEFT files with their sizes and sha256, paths relative to the adapters folder."""
    adapter_path = Path(adapter_path)
    paths = [adapter_path, peft_dir / "adapter_model.safetensors", peft_dir / "adapter_config.json"]
    return [
        CardFile(path=p.relative_to(adapter_path.parent).as_posix(), sha256=sha256_of(p), bytes=p.stat().st_size)
        for p in paths
        if p.is_file()
    ]
