"""Training throughput (images/s) of every method with CLIP ViT-B/32-sized towers, fine-tuned and frozen with the
feature cache.

The towers are a CLIP built from its default config (ViT-B/32: 224 px, patch 32, 12 × 768 vision layers, 12 × 512
text layers) with random weights, saved to a scratch folder and given as ``--encoders`` (nothing is downloaded);
captions are tokenized by a WordPiece tokenizer trained on the synthetic ``builtin:shapes`` captions (ids fit
CLIP's 49,408-entry vocabulary). Each run trains ``--steps`` batches of 128 (15 by default: builtin:shapes trains on
2,000 pairs) with bf16 autocast through Accelerate and up to 8 DataLoader workers; images/s counts image–text
pairs per second over the training loop (every step of a method counted once per pair, the first batch
included). For the frozen runs the time to fill the cache is reported separately; each run also reports the peak
GPU memory. A row is printed (as JSON) as soon as its run ends, so a run cut short still leaves its rows.

On a machine without a GPU it prints a small CPU version instead (a 2-layer, 128-wide CLIP on 64 px pictures,
batch 16, fp32) so the script stays runnable; those numbers say nothing about GPU throughput.

Usage:
    python benchmarks/gpu_throughput.py                 # GPU: ViT-B/32 size, bf16, batch 128
    OMP_NUM_THREADS=1 python benchmarks/gpu_throughput.py --methods dcmh   # CPU: the small version
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import CLIPConfig, CLIPModel  # noqa: E402

from cmhash_hf import list_methods  # noqa: E402
from cmhash_hf.data import load_cross_modal_dataset  # noqa: E402
from cmhash_hf.file_utils import atomic_write_text  # noqa: E402
from cmhash_hf.text_vocabulary import train_wordpiece_tokenizer  # noqa: E402
from cmhash_hf.training import HashTrainer, HashTrainingArguments, prepare_run  # noqa: E402

try:
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:
    from transformers import CLIPImageProcessor

#: Training pairs of builtin:shapes under the classic split (`cmhash_hf.data.splits`).
TRAIN_PAIRS = 2000
SMALL = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256}


def save_clip(folder: Path, gpu: bool) -> Path:
    texts = load_cross_modal_dataset("builtin:shapes").texts()
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=1000, max_length=32)
    if gpu:
        config = CLIPConfig()  # the defaults are ViT-B/32
        size = 224
    else:
        config = CLIPConfig(text_config={**SMALL, "vocab_size": len(tokenizer), "max_position_embeddings": 40},
                            vision_config={**SMALL, "image_size": 64, "patch_size": 16}, projection_dim=64)
        size = 64
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(folder)
    return folder


def measure(method: str, clip: Path, out: Path, frozen: bool, batch_size: int, steps: int, precision: str,
            workers: int) -> dict:
    if torch.cuda.is_available():
        gc.collect()  # the previous run's trainer, so its memory does not count towards this run's peak
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    args = HashTrainingArguments(
        method=method, output_dir=str(out / f"{method}-{'frozen' if frozen else 'tuned'}"), encoders=str(clip),
        bits=64, epochs=1, batch_size=batch_size, max_train_samples=batch_size * steps, mixed_precision=precision,
        learning_rate=1e-3, encoder_learning_rate=1e-5, freeze_encoders=frozen, overwrite_output_dir=True,
        feature_cache_dir=str(out / "cache"), num_workers=workers,
    )
    started = time.perf_counter()
    trainer = HashTrainer(args, prepare_run(args))
    setup = time.perf_counter() - started
    metrics = trainer.train()
    return {"method": method, "mode": "frozen + cache" if frozen else "fine-tuned",
            "images_per_second": metrics["train_items_per_second"], "train_seconds": metrics["train_seconds"],
            "setup_seconds_incl_cache": round(setup, 2),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if torch.cuda.is_available() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list_methods())
    parser.add_argument("--steps", type=int, default=None, help="batches per run (default: 15 on GPU, 3 on CPU)")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader worker processes (default: 8 on GPU, 0 on CPU; 0 if /dev/shm is small)")
    parser.add_argument("--output-dir", default="benchmarks/results/gpu_throughput")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    batch_size, precision = (128, "bf16") if gpu else (16, "no")
    steps = args.steps or (15 if gpu else 3)
    if steps * batch_size > TRAIN_PAIRS:
        parser.error(f"--steps {steps} needs {steps * batch_size} training pairs but builtin:shapes has "
                     f"{TRAIN_PAIRS}: give at most {TRAIN_PAIRS // batch_size}.")
    workers = args.workers if args.workers is not None else (min(8, os.cpu_count() or 1) if gpu else 0)
    out = Path(args.output_dir)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        clip = save_clip(Path(scratch) / "clip", gpu)
        for method in args.methods:
            for frozen in (False, True):
                rows.append(measure(method, clip, out, frozen, batch_size, steps, precision, workers))
                print(json.dumps(rows[-1]), flush=True)
    device = torch.cuda.get_device_name(0) if gpu else f"CPU ({torch.get_num_threads()} threads; small CLIP, not ViT-B/32)"
    lines = [f"Device: {device}; batch {batch_size}; {precision}; {steps} batches per run; {workers} loader workers",
             "", "| method | mode | images/s | train s | set-up s (incl. cache) | peak GPU GiB |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['mode']} | {r['images_per_second']:.0f} | {r['train_seconds']:.2f} | "
              f"{r['setup_seconds_incl_cache']:.2f} | {r['peak_gpu_gib'] if gpu else '-'} |" for r in rows]
    print("\n".join(lines))
    atomic_write_text(out / "results.json", json.dumps({"device": device, "batch_size": batch_size,
                                                        "precision": precision, "steps": steps, "workers": workers,
                                                        "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
