"""LoRA adapters made here: training data, PEFT training, exact GGUF export, background jobs, cards and the shipped recipes."""
