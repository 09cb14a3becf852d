"""Tiny "pretrained" encoders saved to folders, as a Hub checkpoint would be: a CLIP (both towers), a ViT and a
BERT, each with its own image processor or tokenizer. Built from configs with random weights: nothing is
downloaded (the suite runs with HF_HUB_OFFLINE=1)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel, CLIPConfig, CLIPModel, ViTConfig, ViTModel

from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.text_vocabulary import train_wordpiece_tokenizer

try:
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    from transformers import ViTImageProcessorPil as ViTImageProcessor
except ImportError:  # transformers releases without the PIL/torchvision split
    from transformers import CLIPImageProcessor, ViTImageProcessor

SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


def _tokenizer(max_length: int = 32):
    texts = load_cross_modal_dataset("builtin:shapes", num_items=300).texts()
    return train_wordpiece_tokenizer(texts, vocab_size=300, max_length=max_length)


def save_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A CLIP (ViT 32 px, patch 8 + a text transformer) with a WordPiece tokenizer and a CLIP image processor."""
    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={**SMALL, "vocab_size": len(tokenizer), "max_position_embeddings": 40, "bos_token_id": 0,
                     "eos_token_id": 2, "pad_token_id": tokenizer.pad_token_id},
        vision_config={**SMALL, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def save_tiny_vit(folder: Path, seed: int = 0) -> Path:
    """A ViT (32 px, patch 8) with a ViT image processor."""
    torch.manual_seed(seed)
    ViTModel(ViTConfig(**SMALL, image_size=32, patch_size=8), add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A BERT with a WordPiece tokenizer (a stand-in for a sentence encoder such as MiniLM)."""
    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(**SMALL, vocab_size=len(tokenizer), max_position_embeddings=40,
                        pad_token_id=tokenizer.pad_token_id)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
