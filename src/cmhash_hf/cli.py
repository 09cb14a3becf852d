"""The ``cmhash`` command line: thin wrappers over the library's modules.

    cmhash train --method dcmh --dataset builtin:shapes --preset tiny --bits 16 --epochs 1 --output-dir runs/dcmh16
    cmhash evaluate runs/dcmh16 --dataset builtin:shapes
    cmhash index runs/dcmh16 --dataset builtin:shapes --split database --output runs/dcmh16/index [--backend milvus]
    cmhash search runs/dcmh16 --text "a red circle" --image-queries 2
    cmhash push runs/dcmh16 --repo-id some-org/dcmh-shapes-16bit --with-index

Bad input ends with one line ``cmhash: error: ...`` and exit status 2, never a traceback
(set ``CMHASH_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .training.arguments import add_arguments, arguments_from, given_settings, key_values

#: Training settings a benchmark sets per run itself (``--methods``, ``--bits``, ``--seeds`` choose them).
BENCH_OWNED = ("method", "bits", "seed", "resume", "overwrite_output_dir")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a hashing model (works under `accelerate launch` too)",
                       description="Every option is a field of HashTrainingArguments; --config FILE holds any of them.")
    add_arguments(p)
    p.add_argument("--num-items", type=int, default=argparse.SUPPRESS,
                   help="size of a builtin: dataset (shorthand for --dataset-kwargs num_items=N)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="mAP of a trained run (image→text, text→image) beside chance")
    p.add_argument("run_dir")
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument("--protocol", default=None)
    p.add_argument("--split-seed", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--top-k", type=int, nargs="*", default=[], help="also report mAP@k for these k (e.g. 50 100)")
    p.add_argument("--labels", nargs="+", action="append", default=[], metavar="NAME",
                   help="also score with relevance restricted to these labels (queries with none of them are left "
                        "out and counted); repeat the option for several subsets")
    p.add_argument("--per-label", action="store_true",
                   help="also score each label on its own, both directions, beside chance (table + per_label_map.png)")


def add_dataclass_arguments(parser: argparse.ArgumentParser, settings: type) -> None:
    """One option per field of a settings dataclass, with the field's help: ``--field-name`` (``store_true`` for a
    bool, repeatable for a list), or a positional argument when the field's metadata says ``positional``; fields
    with ``cli: False`` are left out."""
    import dataclasses

    for item in dataclasses.fields(settings):
        meta = item.metadata
        if meta.get("cli", True) is False:
            continue
        help_text = meta.get("help")
        if meta.get("positional"):
            parser.add_argument(item.name, help=help_text)
            continue
        flag = "--" + item.name.replace("_", "-")
        default = item.default if item.default is not dataclasses.MISSING else item.default_factory()
        annotation = str(item.type)
        if annotation.startswith("bool"):
            parser.add_argument(flag, action="store_true", help=help_text)
        elif annotation.startswith("list"):
            parser.add_argument(flag, action="append", default=[], dest=item.name, help=help_text)
        else:
            kind = int if annotation.startswith("int") else (float if annotation.startswith("float") else str)
            parser.add_argument(flag, type=kind, default=default, help=help_text + (f" (default: {default})"
                                                                                   if default not in (None, "") else ""))


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="show text→image and image→text results from a collection")
    p.add_argument("run_dir")
    p.add_argument("--index", default=None, help="collection folder (default: RUN_DIR/index, else the database split "
                                                 "indexed now with the exact backend)")
    p.add_argument("--dataset", default=None)
    p.add_argument("--text", action="append", default=[], help="a text query (repeatable)")
    p.add_argument("--image", action="append", default=[], help="a query picture file (repeatable)")
    p.add_argument("--image-queries", type=int, default=0, help="how many query-set pictures of the dataset to search with")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--uri", default=None, help="reach the collection's tables at this address instead of the stored one "
                                               "(e.g. http://host:19530)")


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build standard datasets into the cmhash-hf schema")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    build = data_sub.add_parser("build", help="turn a dataset's original files into a saved dataset + split files")
    build.add_argument("name", help="one of the builders (see `cmhash data list`)")
    build.add_argument("--source", required=True, help="folder with the dataset's original distribution")
    build.add_argument("--output", required=True, help="folder to write (save_to_disk format)")
    build.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="also push the dataset to the Hub")
    build.add_argument("--protocols", nargs="+", default=["classic", "dchmt"])
    build.add_argument("--seed", type=int, default=0, help="split seed")
    data_sub.add_parser("list", help="list the dataset builders")


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="train and evaluate methods × bits × seeds on one dataset; table + JSON + PR figure",
                       description="Training options are those of `cmhash train` (the same HashTrainingArguments); "
                       "a --config recipe's method and bits stand in for --methods and --bits.")
    p.add_argument("--methods", nargs="+", default=argparse.SUPPRESS, help="method names, or 'all' (default: all)")
    p.add_argument("--supervised-only", action="store_true", help="with 'all': skip unsupervised methods")
    p.add_argument("--bits", type=int, nargs="+", default=argparse.SUPPRESS, help="code lengths (default: 16 32 64)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ...)")
    p.add_argument(
        "--epoch-candidates",
        type=int,
        nargs="+",
        default=[],
        help="choose each method's epochs among these on a validation split carved from train (overrides --epochs)",
    )
    add_arguments(p, exclude=BENCH_OWNED)
    p.add_argument("--num-items", type=int, default=argparse.SUPPRESS, help="size of a builtin: dataset")


def _add_hub(sub: argparse._SubParsersAction) -> None:
    from .indexing import IndexArguments

    p = sub.add_parser("index", help="encode a collection (dataset split, picture folder, caption file, streamed "
                                     "dataset) with a run; sharded, resumable, into an index backend")
    add_dataclass_arguments(p, IndexArguments)
    p = sub.add_parser("push", help="upload a run's model, processor and card (and index) to the Hub in one commit")
    p.add_argument("run_dir")
    p.add_argument("--repo-id", required=True, help="ORG/NAME of the model repo (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--with-index", action="store_true",
                   help="also upload a database index: --index, else RUN_DIR/index, else one built now")
    p.add_argument("--index", default=None, help="index folder written by `cmhash index` to upload (implies --with-index)")
    p.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")
    p.add_argument("--commit-message", default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmhash", description="Deep cross-modal hashing: train, evaluate, search.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_search(sub)
    _add_data(sub)
    _add_bench(sub)
    _add_hub(sub)
    return parser


def _with_num_items(ns: argparse.Namespace) -> argparse.Namespace:
    """``--num-items N`` → ``--dataset-kwargs num_items=N``."""
    values = vars(ns)
    if "num_items" in values:
        values.setdefault("dataset_kwargs", []).append(f"num_items={values.pop('num_items')}")
    return ns


def run_train(ns: argparse.Namespace) -> None:
    from accelerate import PartialState

    from .training import train

    args = arguments_from(_with_num_items(ns))
    metrics = train(args)
    if not PartialState().is_main_process:  # under accelerate launch / torchrun, report once
        return
    print(f"Saved model and processor to {args.output_dir}")
    print(json.dumps({k: v for k, v in metrics.items() if "/" not in k or k.endswith("/loss")}, indent=2))
    if args.skip_bad_rows:
        _print_skipped(Path(args.output_dir), "training row(s)")


def _print_skipped(folder: Path, what: str) -> None:
    """The rows ``--skip-bad-rows`` left out, as recorded in ``folder/skipped_rows.json`` (at most 20 lines)."""
    from .data.bad_rows import SKIPPED_ROWS_FILE, format_skipped_rows, read_skipped_rows

    skipped = read_skipped_rows(folder / SKIPPED_ROWS_FILE)
    if skipped:
        print(f"Left out {len(skipped)} {what} that could not be used (--skip-bad-rows; all listed in "
              f"{folder / SKIPPED_ROWS_FILE}):")
        print(format_skipped_rows(skipped))


def run_evaluate(ns: argparse.Namespace) -> None:
    from .evaluation import evaluate_run, format_results

    from .file_utils import folder_lock
    from .hub import write_model_card

    local = Path(ns.run_dir).is_dir()
    with folder_lock(ns.run_dir, "cmhash evaluate") if local else contextlib.nullcontext():
        results = evaluate_run(ns.run_dir, ns.dataset, ns.protocol, ns.split_seed, ns.batch_size, tuple(ns.top_k),
                               labels=ns.labels, per_label=ns.per_label)
        if local:
            write_model_card(ns.run_dir, results=results)  # the card shows the new results
    print(format_results(results))
    plots = "pr_curve.png, precision_at_k.png" + (" and per_label_map.png" if ns.per_label else "")
    print(f"Wrote results.json, {plots} in {ns.run_dir}")


def _collection_for_search(ns: argparse.Namespace, scratch: str) -> Any:
    from .hub import INDEX_FOLDER, load_collection
    from .indexing import index_run

    folder = Path(ns.index) if ns.index else Path(ns.run_dir) / INDEX_FOLDER
    if ns.index or folder.is_dir():
        return load_collection(folder, subfolder="", **({"uri": ns.uri} if ns.uri else {}))
    built = index_run(ns.run_dir, Path(scratch) / "index", dataset=ns.dataset, uri=ns.uri)
    return load_collection(built.folder, subfolder="")


def run_search(ns: argparse.Namespace) -> None:
    import tempfile

    from .processing import load_image
    from .runs import load_run, run_data
    from .search import image_to_texts, text_to_images

    run = load_run(ns.run_dir)
    with tempfile.TemporaryDirectory() as scratch:
        collection = _collection_for_search(ns, scratch)
        for text in ns.text:
            print(f'\ntext → images: "{text}"')
            for rank, hit in enumerate(text_to_images(run.model, run.processor, collection, text, ns.k), 1):
                where = f"row {hit.row:>5}" if hit.row is not None else (hit.path or f"item {hit.id}")
                labels = f"  labels {', '.join(hit.labels)}" if hit.labels else ""
                print(f"  {rank}. {where}  distance {hit.distance:>3}{labels}")
        queries = [(f"picture {path}", load_image(path, 0)) for path in ns.image]
        if ns.image_queries:
            chosen = run_data(ns.run_dir, run.training_args, ns.dataset or collection.info.get("dataset"))
            data = chosen.data
            column = "image" if data.has_images else "image_features"
            for row in chosen.split.query[: ns.image_queries]:
                names = [data.label_names[j] for j in data.dataset[int(row)]["labels"]] if data.num_labels else []
                queries.append((f"query picture row {row} (labels {', '.join(names)})", data.dataset[int(row)][column]))
        for title, picture in queries:
            print(f"\nimage → texts: {title}")
            for rank, hit in enumerate(image_to_texts(run.model, run.processor, collection, picture, ns.k), 1):
                print(f"  {rank}. distance {hit.distance:>3}  \"{hit.text}\"")
        collection.close()


def run_data(ns: argparse.Namespace) -> None:
    from .data.builders import build_dataset, list_builders

    if ns.data_command == "list":
        print("\n".join(list_builders()))
        return
    dataset = build_dataset(
        ns.name, ns.source, ns.output, push_to_hub=ns.push_to_hub, protocols=tuple(ns.protocols), seed=ns.seed
    )
    print(f"Built {ns.name}: {len(dataset)} pairs, columns {dataset.column_names} -> {ns.output}")


def run_bench(ns: argparse.Namespace) -> None:
    from .bench import BenchSettings, run_benchmark

    values = given_settings(_with_num_items(ns))
    methods = getattr(ns, "methods", None) or ([values["method"]] if "method" in values else ["all"])
    bits = getattr(ns, "bits", None) or ([values["bits"]] if "bits" in values else [16, 32, 64])
    if "dataset" not in values:
        raise ValueError("cmhash bench needs a dataset: give --dataset or set it in the --config file.")
    if "output_dir" not in values:
        raise ValueError("cmhash bench needs --output-dir (or output_dir in the --config file).")
    settings = BenchSettings(
        dataset=values.pop("dataset"),
        output_dir=values.pop("output_dir"),
        methods=methods,
        bits=bits,
        seeds=list(range(ns.seeds)),
        epoch_candidates=ns.epoch_candidates,
        supervised_only=ns.supervised_only,
        training_kwargs={k: v for k, v in values.items() if k not in BENCH_OWNED},
    )
    report = run_benchmark(settings)
    print((Path(settings.output_dir) / "results.md").read_text())
    print(f"Wrote results.json, results.md and pr_curves.png in {settings.output_dir} ({len(report['runs'])} runs)")


def run_index(ns: argparse.Namespace) -> None:
    import dataclasses

    from .file_utils import folder_lock
    from .indexing import IndexArguments, process_state, run_index as index

    args = IndexArguments(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(IndexArguments) if hasattr(ns, f.name)})
    main = process_state().is_main_process and Path(ns.run_dir).is_dir()
    # not while the run trains or another index is written there (the main process holds the lock for all)
    with folder_lock(ns.run_dir, "cmhash index") if main else contextlib.nullcontext():
        report = index(args)
    if not process_state().is_main_process:  # under accelerate launch / torchrun, report once
        return
    info = json.loads((report.folder / "collection.json").read_text())
    what = args.images or args.texts or f"{info.get('dataset')} ({info.get('split')})"
    resumed = f" ({report.shards_resumed} shard(s) kept from an interrupted run)" if report.shards_resumed else ""
    print(f"Indexed {report.indexed} items of {what} into {args.backend} -> {report.folder}{resumed}")
    if args.skip_bad_rows:
        _print_skipped(report.folder, "item(s)")
    elif report.skipped:
        print(f"Left out {len(report.skipped)} unreadable file(s):")
        for problem in report.skipped:
            print(f"  {problem}")


def run_push(ns: argparse.Namespace) -> None:
    import tempfile

    from .hub import INDEX_FOLDER, push_folder
    from .indexing import index_run

    with tempfile.TemporaryDirectory() as scratch:
        index_dir = ns.index
        if ns.with_index and index_dir is None:
            index_dir = Path(ns.run_dir) / INDEX_FOLDER
            if not index_dir.is_dir():
                index_dir = index_run(ns.run_dir, Path(scratch) / INDEX_FOLDER).folder
        commit = push_folder(ns.run_dir, ns.repo_id, private=ns.private or None, token=ns.token,
                             index_dir=index_dir, commit_message=ns.commit_message)
    print(f"Pushed {ns.run_dir} to {ns.repo_id}: {commit.commit_url}")


COMMANDS = {"train": run_train, "evaluate": run_evaluate, "search": run_search, "data": run_data, "bench": run_bench,
            "index": run_index, "push": run_push}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        COMMANDS[ns.command](ns)
    except (ValueError, TypeError, OSError, KeyError, FloatingPointError, ImportError) as err:
        if os.environ.get("CMHASH_DEBUG"):
            raise
        message = str(err).strip("'\"") or type(err).__name__
        print(f"cmhash: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
